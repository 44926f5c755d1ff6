"""Messages per second for parse + screen + classify + resolve on one core, and the RSS the model adds.

The messages are the held-out set turned into raw emails (evaluate_policy's scenarios: quoted notices,
HTML-only bodies, identifiers, Authentication-Results), cycled to --messages, resolved against an
in-memory directory. Runs pinned to one CPU. Prints per-stage medians and the totals for the keyword
baseline and, when models/intent exists, the shipped model.

    .venv/bin/python bench/classify.py            # --messages 10000 --cpu 0
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

from optout_daemon.pipeline import evaluate_policy as ev
from optout_daemon.pipeline.classify import KeywordClassifier, load_classifier, shipped_model_dir
from optout_daemon.pipeline.resolve import ResolvePolicy
from optout_daemon.pipeline.run import Pipeline
from optout_daemon.settings import PolicySettings


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def workload(count: int) -> list[ev.Case]:
    lines = ev.HELDOUT.read_text(encoding="utf-8").splitlines()
    examples = [json.loads(line) for line in lines if line.strip()]
    out: list[ev.Case] = []
    n = 0
    while len(out) < count:
        out += ev.cases(examples[n % len(examples)], n)
        n += 1
    # the four scenarios of one example carry the same text: in that order, any cache keyed on the last
    # message's text (the clause checks keep one) would serve three of every four, which a stream of
    # distinct mail never does. A fixed shuffle puts other mail between them.
    out = out[:count]
    random.Random(0).shuffle(out)
    return out


def run(name: str, classifier, messages: list[ev.Case]) -> None:  # noqa: ANN001
    pipeline = Pipeline(classifier, ResolvePolicy(PolicySettings().account_pattern), ev.decide_policy())
    for case in messages[:200]:  # warm up caches (regexes, spaCy vocab)
        pipeline.analyze(case.raw, case.directory, ev.NOW)
    stages: dict[str, list[float]] = {}
    start = time.perf_counter()
    for case in messages:
        analysis = pipeline.analyze(case.raw, case.directory, ev.NOW)
        for stage, seconds in analysis.timings.items():
            stages.setdefault(stage, []).append(seconds)
    elapsed = time.perf_counter() - start
    per_stage = "  ".join(f"{s} {statistics.median(v) * 1000:.3f}/{statistics.mean(v) * 1000:.3f}"
                          for s, v in stages.items())
    print(f"{name:>9}: {len(messages) / elapsed:8,.0f} messages/s  ({elapsed * 1000 / len(messages):.3f} ms each)  "
          f"stage ms median/mean: {per_stage}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--cpu", type=int, default=0, help="the one CPU to run on")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    messages = workload(args.messages)
    size = sum(len(c.raw) for c in messages) / len(messages)
    print(f"{len(messages)} messages, mean {size:,.0f} bytes, pinned to CPU {args.cpu}")
    run("keywords", KeywordClassifier(), messages)
    if not (shipped_model_dir() / "meta.json").exists():
        print("no trained model in models/intent: model figures skipped")
        return 0
    before = rss_mb()
    model = load_classifier("model")
    loaded = rss_mb()
    run("model", model, messages)
    after = rss_mb()
    print(f"RSS: {before:.0f} MB before the model, +{loaded - before:.0f} MB after loading it (import spacy included), "
          f"+{after - before:.0f} MB after {len(messages)} messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
