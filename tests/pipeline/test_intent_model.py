"""The shipped intent model: it loads, it gets the messages people actually send right, training is
reproducible, and `evaluate` compares it with the keyword baseline."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optout_daemon.pipeline import intent_model
from optout_daemon.pipeline.classify import MAX_MODEL_CHARS, within_reading
from optout_daemon.pipeline.parse import split_reply
from optout_daemon.pipeline.types import Intent

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "intent"
TRAINING_DIR = ROOT / "models" / "training"
NOTICE_EN = (TRAINING_DIR / "notices" / "notice_en_1.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def model() -> intent_model.SpacyIntentClassifier:
    return intent_model.load(MODEL_DIR)


def classify(model, subject: str, body: str):  # noqa: ANN001, ANN201
    return model.classify(subject, split_reply(body)[0])


def test_shipped_model_loads_and_reports_all_four_scores(model) -> None:  # noqa: ANN001
    result = model.classify("Opt out", "Please stop using my information for marketing.")
    assert result.classifier == "model:intent"
    assert set(result.scores) == {"opt_out", "opt_in", "ambiguous", "unrelated"}
    assert result.confidence == result.scores[result.intent.value]
    assert result.confidence == max(result.scores.values())
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_shipped_model_was_trained_from_the_committed_data_and_config() -> None:
    meta = json.loads((MODEL_DIR / "meta.json").read_text())
    digest = hashlib.sha256((TRAINING_DIR / "train.jsonl").read_bytes()
                            + (TRAINING_DIR / "config.cfg").read_bytes()).hexdigest()
    assert meta["optout_daemon"]["train_data_and_config_sha256"] == digest, (
        "models/training changed: run `optout-daemon model train` and commit models/intent")


@pytest.mark.parametrize(("subject", "body"), [
    ("", "Please stop using my personal info for your advertising. Acct# 4421-9087-33"),
    ("Re: Important information about your privacy choices", "Opt me out.\n\nSent from my iPhone"),
    ("", "UNSUBSCRIBE ME AND STOP SELLING MY DATA"),
    ("STOP", ""),
    ("", "I want out of your marketing, do not use my call records. My number is (312) 555-0143."),
    ("", "Please opt out my mother, she is 84 and does not want her data used for ads. Her phone is 773-555-0100."),
    ("", "Dejen de usar mis datos para publicidad, por favor. Cuenta 123456789"),
    ("Baja", ""),
    ("", "No autorizo el uso de mi información para mercadeo.\n\nEnviado desde mi iPhone"),
    ("", "Por favor exclúyanme, no quiero más promociones."),
])
def test_clear_opt_outs_in_english_and_spanish(model, subject: str, body: str) -> None:  # noqa: ANN001
    assert classify(model, subject, body).intent is Intent.OPT_OUT


@pytest.mark.parametrize(("subject", "body"), [
    ("", "I opted out by mistake last year. Please opt me back in, I want the offers again."),
    ("", "You can use my account information to send me promotions again."),
    ("Opt in", "I consent to the use of my CPNI for marketing."),
    ("", "Acepto que usen mis datos para enviarme ofertas."),
    ("", "Quiero volver a recibir promociones, pueden usar mi información."),
])
def test_clear_opt_ins(model, subject: str, body: str) -> None:  # noqa: ANN001
    assert classify(model, subject, body).intent is Intent.OPT_IN


@pytest.mark.parametrize(("subject", "body"), [
    ("Re: Important information about your privacy choices", "I do NOT want to opt out, I need my bill."),
    ("", "I'm not trying to opt out of anything. Why is my bill $30 higher this month?"),
    ("", "NO quiero excluirme, solo necesito una copia de mi factura."),
])
def test_negated_opt_outs_are_not_opt_outs(model, subject: str, body: str) -> None:  # noqa: ANN001
    assert classify(model, subject, body).intent is not Intent.OPT_OUT


def test_the_quoted_notice_does_not_decide_for_the_customer(model) -> None:  # noqa: ANN001
    quoted = "\n".join("> " + line for line in NOTICE_EN.splitlines())
    body = "What is this? Why did I get this?\n\nOn Mon, Jan 5, 2026 at 9:14 AM Northwind <privacy@n.example> wrote:\n" + quoted
    assert "opt out" in body.lower()
    assert classify(model, "Re: Important information about your privacy choices", body).intent is Intent.AMBIGUOUS
    reply = "Opt me out please.\n\nOn Mon, Jan 5, 2026 at 9:14 AM Northwind <privacy@n.example> wrote:\n" + quoted
    assert classify(model, "Re: Important information about your privacy choices", reply).intent is Intent.OPT_OUT


@pytest.mark.parametrize(("subject", "body"), [
    ("Weekend sale!", "Save 40% on patio furniture this weekend only.\nTo unsubscribe from these emails click here."),
    ("", "My internet has been down since Monday, can you send a technician?"),
])
def test_unrelated_mail_and_spam_with_an_unsubscribe_footer(model, subject: str, body: str) -> None:  # noqa: ANN001
    assert classify(model, subject, body).intent is Intent.UNRELATED


def test_an_empty_message_goes_to_a_person(model) -> None:  # noqa: ANN001
    assert model.classify("", "  \n").intent is Intent.AMBIGUOUS


def _small_training_dir(tmp_path: Path, n: int = 800) -> Path:
    out = tmp_path / "training"
    out.mkdir()
    shutil.copy(TRAINING_DIR / "config.cfg", out / "config.cfg")
    lines = (TRAINING_DIR / "train.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    (out / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out  # no heldout.jsonl here: training must not need it


def test_training_is_reproducible(tmp_path: Path) -> None:
    data = _small_training_dir(tmp_path)
    first = intent_model.train(data, tmp_path / "a", seed=0)
    second = intent_model.train(data, tmp_path / "b", seed=0)
    assert first["examples"] == second["examples"] == 800
    a, b = intent_model.load(tmp_path / "a"), intent_model.load(tmp_path / "b")
    rows = intent_model.read_examples(TRAINING_DIR / "heldout.jsonl")[:200]
    for row in rows:
        text = split_reply(row["body"])[0]
        assert a.classify(row["subject"], text).scores == b.classify(row["subject"], text).scores
    assert (tmp_path / "a" / "textcat" / "model").read_bytes() == (tmp_path / "b" / "textcat" / "model").read_bytes()


def test_averaged_training_ships_the_mean_of_its_seeds_models(tmp_path: Path) -> None:
    """`average_of_seeds = 2`: the shipped weights are the mean of the models of seeds 3 and 4, so each score is
    the softmax of their mean logits; and the averaged model is reproducible too."""
    import numpy  # noqa: PLC0415

    data = _small_training_dir(tmp_path, n=400)
    single = tmp_path / "single"
    shutil.copytree(data, single)
    config = (data / "config.cfg").read_text(encoding="utf-8")
    assert "average_of_seeds" in config  # the shipped config averages
    (single / "config.cfg").write_text(re.sub(r"average_of_seeds = \d+", "average_of_seeds = 1", config), encoding="utf-8")
    (data / "config.cfg").write_text(re.sub(r"average_of_seeds = \d+", "average_of_seeds = 2", config), encoding="utf-8")
    report = intent_model.train(data, tmp_path / "avg", seed=3)
    assert report["seeds_averaged"] == [3, 4]
    intent_model.train(data, tmp_path / "again", seed=3)
    assert (tmp_path / "avg" / "textcat" / "model").read_bytes() == (tmp_path / "again" / "textcat" / "model").read_bytes()
    intent_model.train(single, tmp_path / "s3", seed=3)
    intent_model.train(single, tmp_path / "s4", seed=4)
    avg, s3, s4 = (intent_model.load(tmp_path / name) for name in ("avg", "s3", "s4"))
    assert avg.scorer is not None and s3.scorer is not None and s4.scorer is not None
    rows = intent_model.read_examples(TRAINING_DIR / "heldout.jsonl")[:50]
    differs = 0
    for row in rows:
        text = intent_model.features(intent_model.message_text(row["subject"], row["body"]))
        logits = [numpy.log([m.scorer.scores(text)[label] for label in intent_model.LABELS]) for m in (s3, s4)]
        mean = (logits[0] - logits[0].mean() + logits[1] - logits[1].mean()) / 2
        expected = numpy.exp(mean) / numpy.exp(mean).sum()
        got = [avg.scorer.scores(text)[label] for label in intent_model.LABELS]
        assert numpy.allclose(got, expected, atol=1e-5)
        differs += not numpy.allclose(logits[0], logits[1], atol=1e-3)
    assert differs  # the two seeds' models are not the same model


def _table(report: str) -> dict[str, list[float]]:
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in intent_model.LABELS and len(cells) == 8:
            rows[cells[0]] = [float(c) for c in cells[2:]]
    return rows


def test_evaluate_prints_model_and_baseline_side_by_side_and_the_model_wins() -> None:
    report = intent_model.evaluate(MODEL_DIR, TRAINING_DIR / "heldout.jsonl")
    assert re.search(r"\| class \| support \| model P \| model R \| model F1 \| baseline P \| baseline R \| baseline F1 \|",
                     report)
    table = _table(report)
    assert set(table) == set(intent_model.LABELS)
    for label, (mp, mr, mf, bp, br, bf) in table.items():
        assert all(0.0 <= v <= 1.0 for v in (mp, mr, mf, bp, br, bf))
        assert mf > bf, f"{label}: model F1 {mf} not better than the keyword baseline's {bf}"
    # opt-out recall on phrasings the model never saw (0.9 until the fourteenth round added long realistic
    # mail to the held-out set; the older held-out phrasings still read at 0.95, docs/MODEL.md); the
    # policy's rules and the keyword safety net send the rest to a person (test_policy_eval)
    assert table["opt_out"][1] >= 0.88


def test_a_message_asking_for_both_goes_to_a_person(model) -> None:  # noqa: ANN001
    text = "Stop using my data for your ads. Then again, send me the deals, I want the offers again."
    result = model.classify("", text)
    assert result.intent is Intent.AMBIGUOUS
    # (read whole, the shipped model may already call it ambiguous; read as either request, its clauses conflict)
    assert "model:intent clauses_conflict" in result.reasons or result.reasons == (f"model:intent ambiguous {result.confidence:.2f}",)
    assert model._clauses_conflict(text, Intent.OPT_OUT.value) and model._clauses_conflict(text, Intent.OPT_IN.value)
    plain = model.classify("", "Stop using my data for your ads. My number is 312-555-0143.")
    assert plain.intent is Intent.OPT_OUT and "model:intent clauses_conflict" not in plain.reasons


def test_a_request_beside_a_clause_that_asks_what_it_means_goes_to_a_person(model) -> None:  # noqa: ANN001
    text = "Remove me from marketing. What does this mean?"
    assert model.classify("", text).intent is Intent.AMBIGUOUS
    assert model._clauses_conflict(text, "opt_out")  # the clause check says so too, whatever the whole message scores
    assert not model._clauses_conflict("Remove me from marketing. My number is 312-555-0143.", "opt_out")


class _Scripted:
    """A SpacyIntentClassifier whose documents score as scripted by a word they hold."""

    def __init__(self) -> None:
        from optout_daemon.pipeline.intent_model import SpacyIntentClassifier  # noqa: PLC0415
        self.real = SpacyIntentClassifier.__new__(SpacyIntentClassifier)
        self.real.scorer, self.real.version = None, ""
        self.real._scores = lambda texts: [self.score(t) for t in texts]

    @staticmethod
    def score(text: str) -> dict[str, float]:
        label = "opt_in" if "suscribirme" in text and "factura" not in text else "unrelated"
        if "compartan" in text and "tecnico" not in text:
            label = "opt_out"
        return {"opt_out": 0.0, "opt_in": 0.0, "ambiguous": 0.0, "unrelated": 0.0, label: 1.0}


def test_a_closing_or_a_name_is_no_clause_to_conflict_with(model) -> None:  # noqa: ANN001
    # only clauses the concepts read count: "Muchas gracias" and a name say nothing about the request
    assert not model._clause_scores("Sáquenme de la lista de promociones.\nMuchas gracias,\nCarmen Ramírez")
    assert len(model._clause_scores("Remove me from marketing. What does this mean?")) == 2


def test_a_number_written_with_points_is_not_a_clause_of_its_own() -> None:
    assert intent_model._CLAUSES.split("Opt me out. Acct no. 757.440.578") == ["Opt me out", "Acct no. 757.440.578"]
    assert intent_model._CLAUSES.split("No. de cuenta #595579771") == ["No. de cuenta #595579771"]
    assert intent_model._CLAUSES.split("I said no. Stop") == ["I said no", "Stop"]


def test_unrelated_mail_with_an_opt_in_clause_goes_to_a_person() -> None:
    model = _Scripted().real
    result = model.classify("", "Quiero suscribirme otra vez. También, ¿por qué subió mi factura?")
    assert result.intent is Intent.AMBIGUOUS and "model:intent opt_in_clause" in result.reasons
    assert model.classify("", "Mi factura subió. ¿Por qué?").intent is Intent.UNRELATED


def test_unrelated_mail_that_answers_yes_to_the_notice_goes_to_a_person() -> None:
    # the answer given without a mark after a support question: "yes" alone reads as a doubt, the whole as support
    model = _ByWords([], {"unrelated": 0.67, "ambiguous": 0.33}).real
    for text in ("Necesito una cita con el técnico. me piden mi nip es verdad mi respuesta es sí",
                 "my phone is slow my answer is yes"):
        result = model.classify("", text)
        assert result.intent is Intent.AMBIGUOUS and "model:intent request_words" in result.reasons, text
    assert model.classify("", "Necesito una cita con el técnico. Gracias").intent is Intent.UNRELATED


def test_unrelated_mail_with_an_opt_out_clause_goes_to_a_person() -> None:
    # a support question with a refusal after it: the whole reads unrelated, the refusal must not be ignored
    model = _Scripted().real
    result = model.classify("", "Necesito una cita con el técnico. No compartan mi información con sus afiliados.")
    assert result.intent is Intent.AMBIGUOUS and "model:intent opt_out_clause" in result.reasons
    assert model.classify("", "Necesito una cita con el técnico. ¿Qué día pueden venir?").intent is Intent.UNRELATED
    # a mailing's own opt-out line ("envío gratis", "click here") is the footer's, not the sender's request
    mailing = model.classify("", "El técnico no vino. Envío gratis hoy, clic aquí, no compartan este correo.")
    assert mailing.intent is Intent.UNRELATED
    # ... but one word of a mailing in a customer's letter ("up here") leaves the request for a person
    letter = model.classify("", "Necesito una cita con el técnico, the signal is better up here. "
                                "No compartan mi información con sus afiliados.")
    assert letter.intent is Intent.AMBIGUOUS and "model:intent opt_out_clause" in letter.reasons


_TRIGGERS = st.sampled_from(["don't", "dont", "donnt", "dnt", "doont", "do not call list", "do-not-market", "lista",
                             "no contactar", "lista de exclusion", "exclusion list", "authorized user",
                             "usuaria autorizada", "reply STOP", "text quit", "responda baja", "as long as",
                             "siempre que", "a menos que", "tal vez", "puede que", "take back", "took back",
                             "dejen fuera", "turn on", "switch back on", "no thanks", "no, gracias", "cannot",
                             "won't", "isnt", "wont", "12", " ", ", ", ".", "\n", "é", "no", "back", "on", "out", "came",
                             "keeps", "keep", "sigue", "figure out", "freezing"])


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.one_of(_TRIGGERS, st.text(max_size=4)), max_size=20))
def test_normalize_runs_a_rewrite_only_where_it_can_match(words: list[str]) -> None:
    # each rewrite is skipped on text without one of the strings its matches contain: the result must
    # be what running every rewrite gives
    text = " ".join(words)
    guarded = intent_model.normalize(text)
    saved = intent_model._REWRITES
    intent_model._REWRITES = tuple((("",), pattern, replacement) for _, pattern, replacement in saved)
    try:
        assert intent_model.normalize(text) == guarded
    finally:
        intent_model._REWRITES = saved


_KEYWORDS = st.sampled_from(["opt me out", "opt in", "unsubscribe", "stop", "do not use", "don't share", "baja",
                              "dénme de baja", "no autorizo", "acepto", "autorizo", "suscríbanme", "i consent", "not",
                              "never", "ſtop", "İ", "K", "\u212a", "ı", "é", "ñ", "\n", ".", " ", "remove me",
                              "sign me back up", "SUSCRÍBANME", "DÉNME DE BAJA"])


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.one_of(_KEYWORDS, st.text(max_size=4)), max_size=16))
def test_the_keyword_screen_finds_a_phrase_exactly_when_the_patterns_do(words: list[str]) -> None:
    from optout_daemon.pipeline import classify  # noqa: PLC0415
    text = " ".join(words).lower()
    for patterns, screen in ((classify._OUT, classify._OUT_ANY), (classify._IN, classify._IN_ANY)):
        assert classify._matches(patterns, text, screen) == classify._matches(patterns, text)


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
       | st.lists(st.sampled_from(["é", "ñ", "Ü", "\u0301", "\u0327", "ﬁ", "²", "Å", "ǅ", "\u00b4", "\ufb03", "가",
                                   "\u0345", "a", " "]), max_size=12).map("".join))
def test_accents_are_folded_as_normalizing_the_whole_string_does(text: str) -> None:
    # fold() strips accents one character at a time through a table: the same as NFKD of the whole string
    # with its combining marks dropped, the way it was written before
    import unicodedata  # noqa: PLC0415

    from optout_daemon.pipeline import classify  # noqa: PLC0415
    whole = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    assert text.translate(classify._UNACCENTED) == whole


_BREAKS = st.sampled_from([".", "!", "?", ";", ":", "\n", " ", "\t", "\u00a0", "but", "pero", "then again", "or would",
                          "says", "dice", "digo", "i say", "no", "No.", "de cuenta", "12", "3.5", "#", "bueno no sé",
                          "well i don't know", "o mejor", "aunque", "Sin embargo", "opt out", "é"])


@settings(max_examples=500, deadline=None)
@given(words=st.lists(st.one_of(_BREAKS, st.text(max_size=3)), max_size=14))
def test_clauses_are_split_where_the_bare_pattern_splits_them(words: list[str]) -> None:
    # _CLAUSES tries its breaks only at a mark, a colon or whitespace: the same splits as the bare pattern
    text = " ".join(words) if len(words) % 2 else "".join(words)
    assert intent_model._CLAUSES.split(text) == re.compile(intent_model._CLAUSE_BREAKS, re.I).split(text)


def test_a_message_reads_the_same_with_or_without_the_per_message_features(model) -> None:  # noqa: ANN001
    # classify() makes each text into features once per message; the answer must be what reading every
    # text afresh gives, for every held-out message (long letters, clauses, subjects)
    examples = intent_model.read_examples(TRAINING_DIR / "heldout.jsonl")
    texts = [(e["subject"], split_reply(e["body"])[0]) for e in examples[::3]]
    memoised = [model.classify(subject, text) for subject, text in texts]
    saved = intent_model.SpacyIntentClassifier.classify
    intent_model.SpacyIntentClassifier.classify = intent_model.SpacyIntentClassifier._classify
    try:
        afresh = [model.classify(subject, text) for subject, text in texts]
    finally:
        intent_model.SpacyIntentClassifier.classify = saved
    assert memoised == afresh
    assert intent_model._READ_THIS_MESSAGE.features is None  # nothing kept after a message


def _concepts(text: str) -> list[str]:
    return intent_model.concepts(intent_model.normalize(text))


def test_nobody_and_nadie_negate_what_follows() -> None:
    # "nobody wants sales calls", "nadie quiere ofertas": no one wants them, a refusal (not c_want c_mkt: an opt-in)
    for text in ("These are tenant phones, nobody wants sales calls on them.", "Nadie en la casa quiere ofertas."):
        assert {"c_nwant", "c_nmkt"} <= set(_concepts(text)), text
        assert not {"c_want", "c_mkt"} & set(_concepts(text)), text


def test_missing_out_is_no_removal() -> None:
    assert "c_remove" not in _concepts("my son says im missing out on all the good deals lol")
    assert "c_remove" in _concepts("leave me out of the deals")


def test_placing_lines_on_the_do_not_market_list_is_joining_it() -> None:
    # however many words name what joins the list, the verb that places it there is read beside the list
    for text in ("Please put all 14 lines on the Harborview account on the do-not-market list.",
                 "Please add my line to the do-not-market list.", "Pongan mi número en la lista de no publicidad.",
                 "Put me back on the do-not-market list."):
        assert "c_add_dnm" in _concepts(text), text
        assert "c_again" not in _concepts(text), text
    # ... not when it is negated ("do NOT put me on it": an opt-in), nor a story of being placed there
    for text in ("Please do NOT put me on the do-not-market list.", "I was put on the do-not-market list by mistake.",
                 "I put myself on your do-not-market list last summer."):
        assert "c_add_dnm" not in _concepts(text), text
        assert "c_remove" not in _concepts(text), text


def test_what_the_concepts_read_in_everyday_wording() -> None:
    # "neither of us wants" refuses; "either way" negates nothing
    assert _concepts("Neither of us wants offers")[:3] == ["c_neg", "c_nwant", "c_nmkt"]
    assert _concepts("either way, I do not know") == ["c_neg"]  # the "not" alone
    # "make sure it sticks" asks that it be done: no doubt ("not sure")
    assert "c_question" not in _concepts("please make sure it sticks this time")
    assert "c_nquestion" in _concepts("I'm not sure")
    # "it looked like fine print" is a likeness, "I'd like the offers" a wish
    assert "c_want" not in _concepts("it looked like legal fine print")
    assert "c_want" in _concepts("I'd like the offers")
    # "solo quiero decirles que no" is "just"; "solo para la línea de mi hijo" a condition
    assert "c_cond" not in _concepts("solo quiero decirles que no quiero salirme")
    assert "c_cond" in _concepts("solo para la línea de mi hijo")
    # "not now, not later" is never: no hedge
    assert not {"c_hedge", "c_nhedge"} & set(_concepts("I do not consent. Not now, not later."))
    # an "if" that asks whether or concedes sets no condition, for the model too
    assert "c_cond" not in _concepts("opt me out even if I lose the discount")
    assert "c_cond" not in _concepts("I don't know if you were part of the breach")
    assert "c_cond" in _concepts("opt me out if I keep the discount")
    # "salió por $148" is no "salvo" (except)
    assert "c_cond" not in _concepts("mi factura salió por $148")
    # "cannot" is a negation like "can't"
    assert "c_nuse" in _concepts("you cannot use my data")
    # "take back" withdraws: consent (an opt-out) or an opt-out (undoing it)
    assert _concepts("I take back my consent")[:2] == ["c_stop", "c_consent"]
    assert "c_reverse" in _concepts("i take back my opt-out request")
    # "no thanks" refuses; it does not negate the request after it
    assert "c_remove" in _concepts("no gracias, denme de baja de las promociones")
    # "opt me in" is an opt-in like "opt in"
    assert "c_add" in _concepts("opt me in for email")
    # a list is a place: "la lista de exclusión" is the do-not-market list
    assert "c_dnm" in _concepts("pongan mi cuenta en la lista de exclusión")
    # Spanish verbs with a pronoun attached keep their meaning
    assert "c_stop" in _concepts("retiren mi autorización")
    assert "c_remove" in _concepts("quítenlo de la publicidad, por favor")
    # withdrawing an objection, and removing a restriction named earlier in the sentence, undo them
    assert "c_reverse" in _concepts("My objection to the promos is withdrawn as of today.")
    assert "c_reverse" in _concepts("I withdraw my objection")
    assert "c_reverse" in _concepts("Ya no necesito la restricción de mercadeo, quítenla.")
    assert "c_reverse" not in _concepts("I object. Stop using my data.")
    assert "c_reverse" not in _concepts("no thanks stop sending me promos")  # a refusal, then the request
    assert "c_reverse" not in _concepts("Quítenlo de la publicidad, por favor.")
    # lifting a restriction with what is restricted named between
    assert "c_reverse" in _concepts("please lift the marketing restriction on my account")
    # hedges and future intentions are not requests yet
    assert "c_hedge" in _concepts("I'm thinking about opting out")
    assert "c_hedge" in _concepts("puede que me dé de baja el próximo mes")
    # a typed "take back" still withdraws (a missed one had read "tkae back my consent" as giving it)
    assert _concepts("I tkae back my conseent for marketing")[:2] == ["c_stop", "c_consent"]
    # a question may start after "or / and / but": "Or would that affect my contract"
    assert "c_qstart" in _concepts("Opt me out. Or would that affect my contract")
    assert "c_qstart" not in _concepts("Opt me out. Or would you rather call me")
    # no longer needing or keeping a restriction undoes it; not wanting to opt out does not
    assert "c_reverse" in _concepts("No need to keep me opted out anymore.")
    assert "c_reverse" in _concepts("I don't want to be on the do not call list")
    assert "c_reverse" not in _concepts("I don't want to opt out")
    assert "c_reverse" not in _concepts("I do not want to keep getting promos")
    # a Spanish infinitive keeps its meaning with a pronoun attached ("quiero salirme de las promociones")
    assert "c_remove" in _concepts("quiero salirme de las promociones")
    assert "c_use" in _concepts("pueden usarlos para sus ofertas")
    # "sin" and "without" negate what follows ("sigo sin querer publicidad"); "sin embargo" is "however"
    assert _concepts("sigo sin querer publicidad")[:3] == ["c_neg", "c_nwant", "c_nmkt"]
    assert _concepts("sin embargo quiero ofertas")[:2] == ["c_want", "c_mkt"]
    # a consent refused in the past is a complaint ("I didn't authorize this"), not the refusal
    assert "c_past" in _concepts("Someone opened an account in my name. I didn't authorize this.")
    assert "c_past" in _concepts("I never authorized marketing use of my records")
    assert "c_past" in _concepts("Yo nunca acepté eso")
    # not objecting is consenting: "I don't object to the use of my CPNI", "no me opongo"
    assert _concepts("I don't object to the use of my CPNI")[:2] == ["c_neg", "c_consent"]
    assert _concepts("no me opongo a que usen mis datos")[:2] == ["c_neg", "c_consent"]
    assert "c_refuse" in _concepts("I object to marketing")
    assert "c_past" not in _concepts("I do not authorize the use of my CPNI")


def test_the_split_is_frozen_and_new_phrasings_never_move_held_out_ones(tmp_path: Path) -> None:
    import sys  # noqa: PLC0415
    sys.path.insert(0, str(TRAINING_DIR))
    try:
        import generate  # noqa: PLC0415
    finally:
        sys.path.remove(str(TRAINING_DIR))
    frozen = generate._frozen_sides()
    split = generate.split_phrases()
    for sides in split.values():
        for side, phrases in sides.items():
            for phrase in phrases:
                k = generate.key(phrase)
                digest = hashlib.sha256(k.encode()).hexdigest()[:16]
                assert frozen.get(digest, generate.side_of_new(k)) == side
    held = sum(side == "heldout" for side in frozen.values())
    assert 0.15 < held / len(frozen) < 0.25
    new_sides = [generate.side_of_new(f"a phrasing nobody wrote number {i}") for i in range(1000)]
    assert 150 < new_sides.count("heldout") < 250  # about 20% of new phrasings are held out too
    examples = generate.build()  # the committed files are what generate.py makes
    for part in ("train", "heldout"):
        lines = (TRAINING_DIR / f"{part}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(examples[part])
        assert json.loads(lines[0])["body"] == examples[part][0]["body"]


def test_a_negated_negative_ends_the_negation() -> None:
    # what follows "no longer object" / "no problem with" is wanted; what follows "do not use" is not
    assert {"c_mkt", "c_use", "c_data"} <= set(_concepts("I no longer object to marketing use of my info."))
    assert not {"c_nmkt", "c_nuse", "c_ndata"} & set(_concepts("I no longer object to marketing use of my info."))
    assert {"c_nuse", "c_ndata", "c_nmkt"} <= set(_concepts("Please do not use my data for marketing."))
    assert "c_use" in _concepts("No problem with you using my data.")


def test_the_verb_that_undoes_a_restriction_is_not_also_a_stop_request() -> None:
    # "remove" in "remove my account from the do-not-market list" undoes the list: no c_remove to read as an opt-out
    assert _concepts("Remove my account from the do not market list.")[:2] == ["c_reverse", "c_dnm"]
    assert _concepts("Cancel my opt-out.")[:2] == ["c_reverse", "c_outstate"]
    assert "c_stop" not in _concepts("My objection to the promos is withdrawn.")
    # a stop request before it in another clause stays
    assert _concepts("Stop the texts. Cancel my opt-out for email.")[:4] == ["c_stop", "c_send", "c_reverse", "c_outstate"]
    assert _concepts("Stop? My objection is withdrawn.")[:2] == ["c_stop", "c_q"]  # a question ends the clause too


def test_undoing_a_restriction_is_marked_as_a_reversal() -> None:
    for text in ("Take me off the do-not-market list.", "Please stop excluding me from promotions.",
                 "Cancel my opt-out.", "Quiten la restricción de mi cuenta.", "Dejen de bloquear las ofertas.",
                 # setting the earlier request aside, with "previous" or "last week's" between
                 "Ignore my previous opt out request.", "Reverse the opt-out on my account.",
                 "Please cancel my previous opt-out.", "Olviden mi baja, quiero las ofertas."):
        assert "c_reverse" in _concepts(text), text
    for text in ("Stop sending me offers.", "Put me on the do not market list.", "Opt me out, stop using my data.",
                 "Remove me from marketing.", "Dejen de usar mis datos.",
                 "Forget the offers, opt me out.", "Ignore the last email. Opt me out."):
        assert "c_reverse" not in _concepts(text), text


def test_footer_commands_and_typed_questions_have_their_own_concepts() -> None:
    assert "c_footer" in _concepts("Big sale today!\nReply REMOVE to be taken off this list.")
    assert "c_footer" in _concepts("Para no recibir más mensajes responda BAJA.")
    assert "c_footer" not in _concepts("Remove me from your marketing.")
    assert "c_qstart" in _concepts("should i opt out")
    assert "c_qstart" in _concepts("Hi, is my opt out still active")
    assert "c_qstart" not in _concepts("Can you opt me out?")
    assert "c_qstart" not in _concepts("Do not use my data.")
    assert "c_add" not in _concepts("Would opting out change my plan?")  # "opting" is not a typo of "optin"


class _SaysUnrelated:
    """A stand-in model that reads everything as unrelated mail (the safety net's worst case)."""

    def classify(self, subject: str, text: str):  # noqa: ANN201
        from optout_daemon.pipeline.types import Classification  # noqa: PLC0415
        scores = {"opt_out": 0.05, "opt_in": 0.05, "ambiguous": 0.1, "unrelated": 0.8}
        return Classification(Intent.UNRELATED, 0.8, scores, "stand-in", ())


@pytest.mark.parametrize(("text", "raised"), [
    ("How do I cancel my home internet? Opt me and my wife out.", True),
    ("Please opt my mother out, she is 84.", True),
    ("Remove me from your marketing list.", True),
    ("Do not opt my husband out, he likes the deals.", False),
    ("Opt me in, I want the offers.", False),
    ("My internet is down again.", False),
    ("How long is my contract? Stop please.", True),
    ("¿Cuánto debo este mes? Baja.", True),
    ("Why did the stop sign ad run? I never stop by the store.", False),
    ("Somebody changed my plan without asking me. Decline.", True),
    ("Where is the nearest store? My answer to your notice is no.", True),
    ("¿Dónde queda la tienda? Mi respuesta es que no.", True),
    ("Decline the charge on my card, I did not make it.", False),
    ("My bill shows calls I didn't make. Remove.", True),
    ("Remove the late fee from my bill.", False),
    ("My answer is not ready yet, I need to check with my wife.", False),
    ("i forgot my password and cant log in block marketing on my account", True),
    ("Bloqueen la publicidad en mi línea, por favor.", True),
    ("Block the number that keeps calling me.", False),
    ("Solicito que no usen mi CPNI. Also, el módem no prende.", True),
    ("Les pido que no compartan nuestra información con nadie.", True),
    ("No usen mi tarjeta vieja para el pago.", False),
    ("Don't opt me out, I need my bill explained.", False),  # "n't" negates like "not"
    ("I dont want to unsubscribe, my router is broken.", False),
    ("I don't know what this is. Opt me out.", True),
    # something of the sender's taken out of the marketing, an address with dots in it
    ("Please remove my email address, jtorres77@example.com, from your promotional mailings.", True),
    ("Quiten mi número de sus promociones.", True),
    ("Please delete the old card from my account, it expired.", False),
    # a sentence that is only consent refused (the answer to the notice), not a payment or an application declined
    ("Not authorized.\n\nAcct 898.202.709", True),
    ("No lo autorizo.", True),
    ("Where is my refund? I do not authorize.", True),
    ("Payment not authorized, please check my card.", False),
    ("My loan application was not approved by your store.", False),
    # the consent given earlier set aside, the opted-out state asked for
    ("On Feb 12 I sent a form saying you could use my info. Please undo that opt-in.", True),
    ("I want to be opted out like I was before.", True),
    ("Cancel my opt-in, please.", True),
    ("I do not want to be opted out.", False),
])
def test_the_safety_net_sends_opt_out_requests_the_model_missed_to_a_person(text: str, raised: bool) -> None:
    from optout_daemon.pipeline.classify import GuardedClassifier  # noqa: PLC0415
    result = GuardedClassifier(_SaysUnrelated()).classify("", text)
    assert result.intent is Intent.UNRELATED  # the intent is not changed, only the opt-out score
    assert (result.scores["opt_out"] >= GuardedClassifier.GUARD_SCORE) is raised
    assert ("keywords_suggest_opt_out" in result.reasons) is raised


@pytest.mark.parametrize("text", [
    "Opt me out of autopay, I'll pay manually.",
    "Denme de baja de las alertas de consumo de datos.",
    "Turn off the data usage warnings, they're annoying.",
    "Please stop sending me paper bills.",
    "Sáquenme del pago automático.",
])
def test_the_accounts_own_notices_and_billing_ways_are_support(text: str) -> None:
    # what is stopped is a notice or a way of paying, not marketing: the words read as support, with no stop concept
    words = intent_model.features(text).rsplit("\n\n", 1)[1].split()
    assert "c_support" in words and not {"c_stop", "c_remove"} & set(words), words


def test_stop_requests_beside_a_notice_word_still_ask_to_stop_marketing() -> None:
    for text in ("Unsubscribe me from your promotional alerts.", "Dejen de mandarme ofertas.", "Opt me out of marketing."):
        words = set(intent_model.features(text).rsplit("\n\n", 1)[1].split())
        assert {"c_stop", "c_remove"} & words and "c_mkt" in words, (text, words)


def test_an_opt_in_that_undoes_the_opt_out_is_not_held_by_the_opt_out_keywords(model) -> None:  # noqa: ANN001
    from optout_daemon.pipeline.classify import REVERSES_A_RESTRICTION, GuardedClassifier  # noqa: PLC0415
    # "opt-out" here is the restriction being undone, not a request: the shipped model reads it
    result = GuardedClassifier(model).classify("", "Delete my opt-out request please.")
    assert result.intent is Intent.OPT_IN and REVERSES_A_RESTRICTION in result.reasons
    assert "keywords_suggest_opt_out" not in result.reasons
    # an opt-in answer without a reversal is still held when the keywords read an opt-out
    held = GuardedClassifier(model).classify("", "I want the offers. Remove me from your list.")
    assert held.intent is not Intent.OPT_IN or "keywords_suggest_opt_out" in held.reasons


def test_the_direct_scorer_gives_spacys_own_scores(model) -> None:  # noqa: ANN001
    assert model.scorer is not None  # the shipped architecture is the one BowScorer computes
    rows = intent_model.read_examples(TRAINING_DIR / "heldout.jsonl")[:300]
    texts = [intent_model.features(intent_model.message_text(r["subject"], r["body"])) for r in rows]
    texts += ["x", "?", "  two  spaces\n\n\ttab :) (: o.O", "c_stop c_stop c_stop", "opt:) :)opt", "' '':año",
              "hello,\n\nplease stop.\n" + "thank you for your help.\n" * 40 + "\u00a0\n \n\t a.\nc_stop"]
    for text in texts:
        orth = model.scorer.token_ids(text)
        assert orth == model.nlp.tokenizer(text).to_array("ORTH").tolist(), text  # the same tokens
        direct, reference = model.scorer.scores(text), model.nlp(text).cats
        assert max(abs(direct[label] - reference[label]) for label in reference) < 1e-5, text


_PIECES = st.sampled_from(["opt", "out", "c_stop", "don't", "U.S.", "(me)", "e-mail", "?", ":)", "):", "<3", "8", ")",
                           ":", "'", "''", "i'm", "a.m.", "...", "50%", "$5", "ñ", "año", "x", " ", "  ", "\n", "\n\n",
                           "\t", " \n ", "\u00a0", "\r\n", "\u2003", "\x0b"])


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=25))
def test_the_scorers_tokens_are_the_tokenizers(model, pieces: list[str]) -> None:  # noqa: ANN001
    # token ids are remembered per whitespace-delimited span: the result must be the tokenizer's own,
    # whatever the whitespace (runs, tabs, line breaks, non-breaking and other Unicode spaces)
    text = "".join(pieces)
    assert model.scorer.token_ids(text) == model.nlp.tokenizer(text).to_array("ORTH").tolist()
    direct, reference = model.scorer.scores(text), model.nlp(text).cats
    assert max(abs(direct[label] - reference[label]) for label in reference) < 1e-5


def test_a_negation_after_what_it_denies_and_a_typed_dont() -> None:
    # "not anymore" is about what came before: the restriction after it is not negated
    assert "c_stop" in intent_model.concepts(intent_model.normalize("ok with offers before not anymore restrict my info"))
    assert "c_nstop" in intent_model.concepts(intent_model.normalize("please do not restrict my info"))
    for typed in ("i donnt want promos", "i dnt want promos", "i doont want promos"):
        assert intent_model.normalize(typed) == "i do not want promos"
    assert intent_model.normalize("donate to charity") == "donate to charity"


def test_an_opt_in_answer_that_ends_on_a_stop_request_goes_to_a_person(model) -> None:  # noqa: ANN001
    result = model.classify("", "i was ok with the offers before not anymore restrict my info")
    assert result.intent is not Intent.OPT_IN
    assert intent_model._asks_to_stop(intent_model.features("offers were ok but restrict my info now"))
    assert not intent_model._asks_to_stop(intent_model.features("I opted out by mistake, opt me back in"))
    assert not intent_model._asks_to_stop(intent_model.features("please stop excluding me from the offers"))
    # the consent a stop or remove word takes away is what it stops, not a grant after it
    for text in ("I said yes to be polite. I want to take that back. Please remove my consent for using my account "
                 "info for offers.", "revoke my consent"):
        assert intent_model._asks_to_stop(intent_model.features(text)), text
    assert not intent_model._asks_to_stop(intent_model.features("remove my restriction, I consent again"))


def _assert_for_a_person(model, texts: tuple[str, ...], reason: str) -> None:  # noqa: ANN001
    """Each text goes to a person (the answer moved to `ambiguous`) for that reason."""
    for text in texts:
        result = model.classify("", text)
        assert result.intent is Intent.AMBIGUOUS and f"model:intent {reason}" in result.reasons, text


class _ByWords:
    """A SpacyIntentClassifier whose documents score by the first listed word they hold, else `default`."""

    def __init__(self, rules: list[tuple[str, dict[str, float]]], default: dict[str, float]) -> None:
        from optout_daemon.pipeline.intent_model import SpacyIntentClassifier  # noqa: PLC0415
        self.real = SpacyIntentClassifier.__new__(SpacyIntentClassifier)
        self.real.scorer, self.real.version = None, ""
        zero = {"opt_out": 0.0, "opt_in": 0.0, "ambiguous": 0.0, "unrelated": 0.0}

        def score(text: str) -> dict[str, float]:
            words = text.rsplit("\n\n", 1)[0]  # the normalized text, not its concept tokens
            return {**zero, **next((s for word, s in rules if word in words), default)}
        self.real._scores = lambda texts: [score(t) for t in texts]


def test_an_opt_in_a_clause_doubts_goes_to_a_person_unless_the_model_is_sure() -> None:
    text = "Doy mi consentimiento para el uso de mi CPNI. No estoy seguro de que me convenga."
    doubting = [("cpni. no estoy", {"opt_in": 0.85, "ambiguous": 0.15}),  # the whole message
                ("no estoy", {"ambiguous": 0.6, "opt_out": 0.4})]  # one clause: a doubt, below the conflict score
    result = _ByWords(doubting, {"opt_in": 1.0}).real.classify("", text)
    assert result.intent is Intent.AMBIGUOUS and "model:intent opt_in_doubted" in result.reasons
    sure = [("cpni. no estoy", {"opt_in": 0.95, "ambiguous": 0.05}), *doubting[1:]]
    assert _ByWords(sure, {"opt_in": 1.0}).real.classify("", text).intent is Intent.OPT_IN
    # a clause about something else is no doubt
    other = "Doy mi consentimiento para el uso de mi CPNI. Also, mi telefono no prende."
    plain = _ByWords([("cpni. also", {"opt_in": 0.85, "unrelated": 0.15}), ("prende", {"unrelated": 1.0})],
                     {"opt_in": 1.0})
    assert plain.real.classify("", other).intent is Intent.OPT_IN


def test_a_clause_doubts_an_opt_out_only_when_it_reads_ambiguous_surely() -> None:
    # a letter's clause that only tells the story ("but she doesn't do email") reads `ambiguous` unsurely beside the request
    text = "My mother asked me to write, but she doesn't do email. Please opt her out of all marketing."
    told = [("opt her out", {"opt_out": 0.98, "ambiguous": 0.02}), ("email", {"ambiguous": 0.86, "opt_out": 0.14}),
            ("asked me", {"unrelated": 1.0})]
    result = _ByWords(told, {"opt_out": 0.9, "ambiguous": 0.1}).real.classify("", text)
    assert result.intent is Intent.OPT_OUT and "model:intent clauses_conflict" not in result.reasons
    # a doubt read surely is one, and an opt-in clause at the conflict score still conflicts
    doubt = [told[0], ("email", {"ambiguous": 0.95, "opt_out": 0.05}), told[2]]
    assert "model:intent clauses_conflict" in _ByWords(doubt, {"opt_out": 0.9}).real.classify("", text).reasons
    consent = [told[0], ("are fine", {"opt_in": 0.75, "opt_out": 0.25})]
    partial = "Please opt her out of all marketing. The catalogs by mail are fine."
    assert "model:intent clauses_conflict" in _ByWords(consent, {"opt_out": 0.9}).real.classify("", partial).reasons


def test_a_second_thought_turns_the_request_even_read_unsurely() -> None:
    # "Then again, ..." / "O mejor, ...": whatever the clause reads other than the answer, at the doubt score, is for a person
    rules = [("opt me out", {"opt_out": 1.0}), ("taken off", {"ambiguous": 0.68, "opt_in": 0.32})]
    model = _ByWords(rules, {"opt_out": 0.95, "ambiguous": 0.05}).real
    turned = "Please just opt me out of all marketing. Then again, the privacy block I asked for can be taken off now."
    assert "model:intent clauses_conflict" in model.classify("", turned).reasons
    # the same clause without the second thought reads no conflict below the conflict score
    plain = "Please just opt me out of all marketing. The privacy block I asked for can be taken off now."
    assert "model:intent clauses_conflict" not in model.classify("", plain).reasons


def test_keeping_one_way_of_contact_or_one_line_is_a_partial_request() -> None:
    # an opt-out that keeps the mail ("The mail is fine"), an opt-in that leaves a line out: for a person
    kept = "Please stop the phone calls. The mail is fine, she likes looking at the catalog."
    assert intent_model._sets_a_condition(kept, intent_model.features(kept))
    thanked = "Opt me out. Thanks, everything is fine."
    assert not intent_model._sets_a_condition(thanked, intent_model.features(thanked))
    part = "Put me back in for the offers on my line but leave my wife's line opted out."
    assert intent_model._OPT_IN_EXCEPT.search(intent_model.normalize(part))
    assert not intent_model._OPT_IN_EXCEPT.search(intent_model.normalize("Opt me back in and keep my line on the offers."))


def test_a_condition_in_a_sentence_that_tells_the_past_sets_none_now() -> None:
    told = ('Last month I opted back in because the store rep promised a "members only" deal. Never got anything except '
            "more junk email. So opt me OUT again.")
    assert not intent_model._sets_a_condition(told, intent_model.features(told))
    asked = "Opt me out, except for the members only deals."
    assert intent_model._sets_a_condition(asked, intent_model.features(asked))
    # "if you need them I'll send them" is an offer; "I want to know if ... or if ..." asks whether
    offer = "Tengo los comprobantes del banco, si los precisan se los mando. No autorizo que usen mis datos."
    assert not intent_model._sets_a_condition(offer, intent_model.features(offer))
    assert "sicond" not in intent_model.normalize("quiero saber si tengo que pedir traslado o si lo hago por la app")


def test_an_opt_out_beside_a_clause_that_consents_now_goes_to_a_person() -> None:
    text = "You can keep using my info for deals through August. After that I don't want it used."
    rules = [("through august. after", {"opt_out": 0.75, "opt_in": 0.25}),  # the whole message
             ("keep using", {"opt_in": 0.9, "opt_out": 0.1}),  # a clause that consents
             ("after that", {"opt_out": 0.6, "ambiguous": 0.4})]  # the refusal, not clear by itself
    result = _ByWords(rules, {"opt_out": 1.0}).real.classify("", text)
    assert result.intent is Intent.AMBIGUOUS and "model:intent clauses_conflict" in result.reasons
    # ... but a consent told as the story is not said now ("I agreed to the offers last year")
    told = "I agreed to the offers last year. I don't want my info used anymore."
    rules = [("year. i", {"opt_out": 0.75, "opt_in": 0.25}), ("agreed", {"opt_in": 0.9, "opt_out": 0.1}),
             ("anymore", {"opt_out": 0.9, "opt_in": 0.1})]
    assert _ByWords(rules, {"opt_out": 1.0}).real.classify("", told).intent is Intent.OPT_OUT


def test_an_opt_in_for_part_of_the_account_goes_to_a_person() -> None:
    sure_in = _ByWords([], {"opt_in": 0.99, "ambiguous": 0.01}).real
    _assert_for_a_person(sure_in, ("Keep sending me offers for my phone but nothing based on the tablet line please.",
                                   "Sí quiero las ofertas, pero no para la línea de mi hijo."), "opt_in_for_part")
    for text in ("Send me the offers again, but not too many please.", "You can use my info for offers again."):
        assert sure_in.classify("", text).intent is Intent.OPT_IN, text


def test_a_change_of_mind_that_asks_the_other_way_goes_to_a_person_however_sure_the_model() -> None:
    sure_in = _ByWords([], {"opt_in": 0.99, "ambiguous": 0.01}).real
    _assert_for_a_person(sure_in, ("Doy mi consentimiento para el uso de mi CPNI. O mejor, no tienen mi autorizacion.",
                 "remove the privacy restriction, you can market to me or actually please opt out my account",
                 "undo the restriction on my cpni or actuaely nope not letting you use my call info for promos anymore"),
                         "changes_mind")
    sure_out = _ByWords([], {"opt_out": 0.99, "ambiguous": 0.01}).real
    _assert_for_a_person(sure_out, ("Please stop selling my data and stop the ads. Then again, please reinstate my consent.",
                 "no usen mi informacion o mejor ya pueden usar mis datos para promociones"), "changes_mind")
    # the same way after the change of mind is no change: "or actually just opt me out of everything"
    for text in ("Stop the promos, or actually just opt me out of everything.", "Opt me out. Or actually, stop using my data."):
        assert sure_out.classify("", text).intent is Intent.OPT_OUT, text


def test_revoking_an_earlier_request_sets_it_aside_whichever_way_it_went() -> None:
    for text in ("Les escribo para revocar esa solicitud: a partir de ahora pueden utilizar mi información.",
                 "I withdraw my previous request, you may send me offers again."):
        words = intent_model.concepts(intent_model.normalize(text))
        assert "c_void" in words and "c_stop" not in words, (text, words)
    # withdrawing consent is still a stop
    assert "c_stop" in intent_model.concepts(intent_model.normalize("I withdraw my consent to marketing."))


def test_an_opt_in_told_before_a_turn_to_a_clear_opt_out_is_the_story() -> None:
    # ("Retiro lo que les dije" is read as "disregard that": normalize() sets what was said aside)
    rules = [("retiro el consentimiento", {"opt_out": 0.95, "opt_in": 0.05}), ("disregard that", {"opt_out": 0.95}),
             ("aproveche", {"opt_in": 0.92, "opt_out": 0.08}), ("de acuerdo", {"opt_in": 0.92, "opt_out": 0.08}),
             ("no quiero", {"opt_out": 0.87, "opt_in": 0.13})]
    model = _ByWords(rules, {"unrelated": 1.0}).real
    turned = ("Yo sí aproveché una de sus ofertas y me gustó. Pero no quiero que me sigan mandando cosas. "
              "Por ahora retiro el consentimiento y pido que me quiten de las promociones.")
    assert model.classify("", turned).intent is Intent.OPT_OUT
    # without a turn between them, the opt-in beside the opt-out is a conflict ("Retiro lo que les dije" takes
    # back an earlier refusal)
    unturned = ("Estoy de acuerdo con que utilicen mi información para ofrecerme planes. "
                "Retiro lo que les dije en noviembre sobre no participar.")
    assert "model:intent clauses_conflict" in model.classify("", unturned).reasons


def test_what_a_letter_tells_and_where_to_write_are_no_conflict_with_an_opt_out() -> None:
    rules = [("me niego", {"opt_out": 0.95, "opt_in": 0.05}), ("denme de baja", {"opt_out": 0.95}),
             ("carta", {"opt_in": 0.9, "opt_out": 0.1}), ("borrenme", {"opt_out": 0.9, "opt_in": 0.1}),
             ("ninguna oferta", {"opt_out": 0.99}), ("donde escribo", {"ambiguous": 0.97, "opt_out": 0.03})]
    model = _ByWords(rules, {"unrelated": 1.0}).real
    for text in ("Qué maravilla, otra carta explicándome que pueden usar mis llamadas para ofrecerme productos. "
                 "Me niego. Bórrenme de sus campañas.",
                 "No quiero ninguna oferta. Denme de baja. Si no se puede por aquí díganme a dónde escribo."):
        assert model.classify("", text).intent is Intent.OPT_OUT, text


def test_a_question_before_the_last_opt_out_request_was_decided_after_it() -> None:
    rules = [("opt me out", {"opt_out": 1.0}), ("asking permission", {"ambiguous": 0.99, "opt_out": 0.01})]
    model = _ByWords(rules, {"opt_out": 0.9, "ambiguous": 0.1}).real
    decided = "I don't totally understand what you're asking permission for. Please just opt me out of all of it."
    result = model.classify("", decided)
    assert result.intent is Intent.OPT_OUT and "model:intent clauses_conflict" not in result.reasons
    # the same question after the request is a doubt about it
    doubted = "Please just opt me out of all of it. I don't totally understand what you're asking permission for?"
    assert "model:intent clauses_conflict" in model.classify("", doubted).reasons


def test_in_a_long_letter_a_doubt_without_a_request_word_is_the_story() -> None:
    rules = [("agent i am withdrawing consent to the use", {"opt_out": 1.0}),  # the request clause
             ("if needed", {"ambiguous": 0.95, "opt_out": 0.05}),  # a doubt by its words, no request in it
             ("would that affect", {"ambiguous": 0.95, "opt_out": 0.05}),  # a hedge: a question
             ("bill", {"unrelated": 1.0}), ("calls", {"unrelated": 1.0})]
    model = _ByWords(rules, {"opt_out": 0.9, "ambiguous": 0.1}).real
    letter = ("My father is 91 and his bill is paid by me. He gets sales calls every night. As his agent I am "
              "withdrawing consent to the use of his data for marketing. I can provide the document if needed.")
    result = model.classify("", letter)
    assert result.intent is Intent.OPT_OUT and "model:intent clauses_conflict" not in result.reasons
    # the same doubt beside the request in a short message, or a hedge that asks, is for a person
    short = "As his agent I am withdrawing consent to the use of his data. I can provide the document if needed."
    assert "model:intent clauses_conflict" in model.classify("", short).reasons
    hedged = letter.replace("I can provide the document if needed.", "Or would that affect his contract?")
    assert "model:intent clauses_conflict" in model.classify("", hedged).reasons


def test_a_bare_yes_is_never_an_automatic_opt_in() -> None:
    model = _ByWords([], {"opt_in": 0.85, "ambiguous": 0.15}).real
    for text in ("Yes", "Yes!\n\nMy number is +1 672 679 7398.", "Sí"):
        result = model.classify("Fwd: Important information about your privacy choices", text)
        assert result.intent is Intent.AMBIGUOUS and "model:intent opt_in_doubted" in result.reasons, text
    assert model.classify("", "Yes, send me the offers.").intent is Intent.OPT_IN
    assert model.classify("", "Sí, mándenme promociones.").intent is Intent.OPT_IN


def test_an_opt_out_that_sets_a_condition_goes_to_a_person_a_polite_if_does_not() -> None:
    model = _ByWords([], {"opt_out": 0.95, "ambiguous": 0.05}).real
    _assert_for_a_person(model, ("If it won't cost me anything: please restrict the use of my CPNI.",
                 "Según lo que pierda: no usen mis datos para publicidad.",
                 "Opt me out, except for the loyalty emails.",
                 "Stop some of the promos, there are too many.", "Opt out one line and opt in the other.",
                 "Please opt my line in but my daughter's line out.", "Opt me out and leave my husband in."),
                         "opt_out_with_a_condition")
    for text in ("I would be grateful if you would exclude my account from all promotional use of my information.",
                 "Opt me out, I live in Texas.", "I opted in by mistake, opt me out and my wife too.",
                 "Please opt me out if possible.", "Sáquenme de la publicidad, si es posible.",
                 "Yes, I want to opt out. Sorry if my last email was not clear.",
                 "If this is where I say no to the marketing thing, then no. Remove me.",
                 "Sorry, wrong address. Anyway, while I'm here: no promotional calls anymore please.",
                 "I got a paper saying you will use my phone records unless I email you. Please do not use my records.",
                 "Tengo una empresa y cada uno tiene una línea de la cuenta. No autorizo que usen la información para "
                 "marketing."):
        assert model.classify("", text).intent is Intent.OPT_OUT, text
    # an "if" that asks whether, concedes, or sets nothing is no condition
    for text in ("I don't know if you were part of the breach, but I withdraw my consent to marketing.",
                 "Please opt me out, even if that means I won't see the loyalty offers.",
                 "The rep asked if it was ok and I said sure. I take that back: opt me out.",
                 "Marcus at the store was great, a shout out if that means anything. Stop the promos.",
                 "No sé si me van a cobrar algo, pero sáquenme de la publicidad."):
        assert model.classify("", text).intent is Intent.OPT_OUT, text
    _assert_for_a_person(model, ("Opt me out even if... no, only if I keep my discount.",
                                 "Opt me out if I still get the loyalty discount.",
                                 "Please opt me out. Also, only if my discount stays."), "opt_out_with_a_condition")
    # ... a condition in a sentence that turns to another topic is about that topic
    turned = "Please opt me out. Also, my router drops every night if it rains, can a tech look at it?"
    assert model.classify("", turned).intent is Intent.OPT_OUT


def test_a_second_speaker_starts_a_clause() -> None:
    assert intent_model._CLAUSES.split("My wife says: STOP I say: opt me back in") == [
        "My wife says", "STOP", "I say", "opt me back in"]
    assert intent_model._CLAUSES.split("Mi esposa dice: no. Yo digo: sí") == ["Mi esposa dice", "no", "Yo digo", "sí"]


def test_a_typo_of_a_lexicon_word_keeps_its_first_letter() -> None:
    # a replaced first letter is another word: "lasta" (lista) is not "basta", "usaar" is "usar" not "sacar"
    assert intent_model._concept("lasta") is None
    assert intent_model._concept("usaar") == "use"
    # a letter missing, doubled, added or replaced later in the word still counts
    assert intent_model._concept("deejn") == "stop"
    assert intent_model._concept("unsubscrbe") == "remove"
    assert intent_model._concept("promotinos") == "mkt"
    assert intent_model._concept("revokd") == "stop"


def test_the_first_concept_token_is_found_like_the_others() -> None:
    # concept tokens follow the text after a blank line: the first one has no space before it
    first = intent_model.features("take me off the suppression list")
    assert first.rsplit("\n\n", 1)[1].startswith("c_reverse") and intent_model._REVERSAL.search(first)
    spam = intent_model.features("click here")
    assert spam.rsplit("\n\n", 1)[1].startswith("c_spam") and intent_model._MAILING.search(spam)
    assert intent_model._CONDITION.search(intent_model.features("only the tablet line"))


def test_an_objection_refuses_and_a_negated_inclusion_excludes_unless_the_clause_undoes_a_restriction() -> None:
    assert _concepts("Objection to CPNI use.")[0] == "c_refuse"
    assert "c_objection" in _concepts("Withdraw my objection.") and "c_refuse" not in _concepts("Withdraw my objection.")
    assert "c_refuse" not in _concepts("My objection is withdrawn.")
    assert "c_consent" in _concepts("I have no objection.")
    assert "c_objection" in _concepts("I have a problem with my bill")  # only the word "objection" itself
    assert "c_remove" in _concepts("Ya no quiero estar incluido en sus ofertas.")
    assert "c_remove" in _concepts("no me incluyan en promociones") and "c_nadd" not in _concepts("no me incluyan")


def test_a_clause_that_only_names_a_topic_is_no_doubt_beside_a_request() -> None:
    text = "I got your letter about CPNI. I do not give permission."
    rules = [("cpni. i do not", {"opt_out": 0.95, "ambiguous": 0.05}),  # the whole messages
             ("permission. what", {"opt_out": 0.95, "ambiguous": 0.05}),
             ("letter", {"ambiguous": 0.9, "opt_out": 0.1})]  # a preamble the model reads as a doubt
    model = _ByWords(rules, {"opt_out": 1.0}).real
    assert model.classify("", text).intent is Intent.OPT_OUT
    # a clause that asks something after the request still conflicts with it
    asked = model.classify("", "I do not give permission. What is this letter about CPNI?")
    assert asked.intent is Intent.AMBIGUOUS and "model:intent clauses_conflict" in asked.reasons


def test_a_question_or_a_doubt_before_the_last_opt_out_clause_is_no_conflict() -> None:
    rules = [("opt me out", {"opt_out": 0.95, "ambiguous": 0.05}),  # the request clause and the whole messages
             ("do not know", {"ambiguous": 0.98, "opt_out": 0.02}),  # a doubt by its words, no request word in it
             ("should i", {"ambiguous": 0.9, "opt_out": 0.1})]
    model = _ByWords(rules, {"opt_out": 1.0}).real
    decided = model.classify("", "I do not know what CPNI is. Opt me out.")
    assert decided.intent is Intent.OPT_OUT, decided.reasons
    # a doubt that holds a request word ("should I opt out?") still conflicts, before or after
    for text in ("Should I opt out? Opt me out.", "Opt me out. I do not know what CPNI is."):
        assert model.classify("", text).intent is Intent.AMBIGUOUS, text


def test_the_clause_checks_of_one_message_score_its_clauses_once() -> None:
    text = "Doy mi consentimiento para el uso de mi CPNI. No estoy seguro de que me convenga."
    scripted = _ByWords([("cpni. no estoy", {"opt_in": 0.85, "ambiguous": 0.15}),
                         ("no estoy", {"ambiguous": 0.6, "opt_out": 0.4})], {"opt_in": 1.0})
    model, batches = scripted.real, []
    score = model._scores
    model._scores = lambda texts: batches.append(len(texts)) or score(texts)
    # the conflict check, then the doubt check: both read the clauses, which are scored once
    assert "model:intent opt_in_doubted" in model.classify("", text).reasons
    assert batches == [1, 2]


def test_an_opt_out_answer_to_words_that_undo_a_restriction_goes_to_a_person() -> None:
    model = _ByWords([], {"opt_out": 0.9, "ambiguous": 0.1}).real
    for text in ("My objection to the promos is withdrawn as of today.", "Undo the opt-out I sent in March.",
                 "Take me off the suppression list."):
        assert intent_model._REVERSAL.search(intent_model.features(text)), text
        result = model.classify("", text)
        assert result.intent is Intent.AMBIGUOUS and "model:intent opt_out_beside_a_reversal" in result.reasons, text
    assert model.classify("", "Take me off your marketing list.").intent is Intent.OPT_OUT


def test_a_letter_longer_than_the_model_reads_is_read_to_its_end(model) -> None:  # noqa: ANN001
    # a page about a bereavement, then the request: the model reads the beginning and the end
    story = ("My mother passed away in March and I have been going through her accounts one by one. " +
             "The store on Main Street was very kind when I brought in her phone and the technician helped me move "
             "her photos to my tablet. " * 18)
    assert len(story) > MAX_MODEL_CHARS
    letter = story + "Please opt me out of all marketing."
    assert within_reading(letter).endswith("Please opt me out of all marketing.")
    assert len(within_reading(letter)) <= MAX_MODEL_CHARS + 1
    result = model.classify("", letter)
    assert result.intent in (Intent.OPT_OUT, Intent.AMBIGUOUS) and result.scores["opt_out"] >= 0.5, result.reasons
    assert model.classify("", story + "Thank you for your help.").intent is Intent.UNRELATED
    # ... and a request in the middle of it, which the model does not read, still goes to a person
    middle = story + "Please opt me out of all marketing. " + story + "Thank you, Ruth"
    assert "Please opt me out" not in within_reading(middle)
    result = model.classify("", middle)
    assert result.intent is Intent.AMBIGUOUS and "model:intent opt_out_clause" in result.reasons
    assert model.classify("", story + "Thank you for your help. " + story).intent is Intent.UNRELATED
    # ... and so does an opt-in read from the beginning and the end of a letter that asks to stop in its middle
    sure_in = _ByWords([("opt me out", {"opt_out": 0.9, "opt_in": 0.1})], {"opt_in": 0.95, "ambiguous": 0.05}).real
    result = sure_in.classify("", "You may use my info for offers. " + middle)
    assert result.intent is Intent.AMBIGUOUS and "model:intent opt_in_beside_a_stop_request" in result.reasons
    assert sure_in.classify("", "You may use my info for offers. " + story + story).intent is Intent.OPT_IN
    # no word is cut in half; a text of one long word keeps its halves
    assert set(within_reading("words " * 600).split()) == {"words"}
    assert len(within_reading("x" * 5000)) == MAX_MODEL_CHARS + 1


def test_a_long_story_around_a_request_is_read_by_its_request(model) -> None:  # noqa: ANN001
    """Real mail tells a story (calls at dinner, a bill paid on time) around one sentence that asks: the
    clauses reading `unrelated` are set aside and the request is read again."""
    story = ("Hello,\n\nI have been with you folks for eleven years and I have never had a problem with the "
             "internet. Lately though somebody from your sales team phones my cell every evening while we are "
             "eating dinner. The last one knew exactly which plan I have and how many lines are on the account, "
             "which is creepy. I paid my bill on time this month like always. Please stop using my account "
             "information to market things to me.\n\nThanks,\nRuth Alvarez")
    assert model.classify("Dinner calls", story).intent is Intent.OPT_OUT  # the shipped model, whole or focused
    # the step itself, with a model that is unsure of the whole and reads the story's clauses as unrelated
    unsure = _ByWords([("hello", {"ambiguous": 0.5, "opt_out": 0.4, "unrelated": 0.1}),  # the whole message
                       ("please stop using", {"opt_out": 0.95, "ambiguous": 0.05})], {"unrelated": 0.9, "ambiguous": 0.1})
    result = unsure.real.classify("Dinner calls", story)
    assert "model:intent focused" in result.reasons and result.intent is Intent.OPT_OUT
    # short mail is read whole, and so is a mailing whose footer says "darse de baja"
    assert "model:intent focused" not in model.classify("", "My bill is wrong. Stop the promos.").reasons
    pitch = ("En Agencia Impulso ayudamos a empresas a multiplicar sus clientes con campañas en redes sociales. "
             "¿Tiene 15 minutos esta semana para una llamada? Nuestro equipo lo espera. Si no desea recibir más "
             "correos, haga clic en darse de baja.")
    result = model.classify("Aumente sus ventas", pitch)
    assert "model:intent focused" not in result.reasons
    assert result.intent is not Intent.OPT_OUT


def test_my_opt_out_in_spanish_is_the_state_that_a_stop_verb_undoes() -> None:
    """"mi baja" is the opt-out already made, like "my opt-out": "anulen mi baja" undoes it."""
    assert "c_reverse" in intent_model.features("anulen mi baja porfa")
    assert "c_reverse" in intent_model.features("Cancelen mi baja, quiero las ofertas.")
    assert "c_reverse" not in intent_model.features("Denme de baja.")
    assert "c_remove" in intent_model.features("Denme de baja.")


def test_solicito_is_a_request_not_a_typo_of_solicit() -> None:
    assert intent_model.concepts("solicito que no usen mi cpni")[:2] == ["c_want", "c_neg"]
    assert "c_nmkt" in intent_model.concepts("do not solicit me")  # the English verb is still marketing


def test_a_service_is_what_a_customer_cancels_not_marketing() -> None:
    assert "c_remove_support" in intent_model.features("Remove me from the family locator service")
    assert "c_support" in intent_model.features("Cancelen la función de buzón, por favor")
    # ... or adds: a person added as an authorized user is a line of the account, not an opt-in
    for text in ("Quiero agregar a mi esposa como usuaria autorizada.", "Please add my son as an authorized user"):
        assert "c_add" not in intent_model.features(text), text
    assert "c_add" in intent_model.features("Add me to your offers")


def test_a_negation_typed_wrong_is_still_a_negation() -> None:
    # "withut my consent" after what was done is the complaint, like "without my consent"
    assert intent_model.features("A device was financed on my account withut my consent.").endswith(
        intent_model.features("A device was financed on my account without my consent.").rsplit("\n\n", 1)[1])
    assert "c_nwant" in intent_model.features("I nevver want promos")
    # words one letter away from a negation that are words of their own negate nothing
    for text in ("I want a newer phone", "Son nueve líneas", "My name is Jamal, I want the promos"):
        assert "c_neg" not in intent_model.features(text), text


@pytest.mark.parametrize(("text", "told"), [
    ("I opted out a couple of years ago", True),
    ("Back in 2021 my wife emailed you about the marketing calls", True),
    ("Me di de baja hace meses", True),
    ("El año pasado mi esposa pidió que no se usara nuestra información", True),
    ("Please opt me out, I already told you", False),  # asks now
    ("I already told you don't use my data", False),
    ("I already told you don’t use my data", False),
    ("i never signed up for these promos take me off", False),
    ("Someone else in my house opted me out", True),  # what someone did, not "opt me out"
    ("My son opted me out without asking", True),
    ("Anulen el bloqueo de mercadeo que pedí", False),  # a request to "ustedes"
    ("Sigo sin querer publicidad, como dije por teléfono", False),
    ("Les quito el permiso que les había dado", False),
    ("Stop the promos", False),  # no past at all
    # a wish reported in the past subjunctive is the story ("que ya no usaran"), "ya no" asked now is not
    ("Mi esposa mandó un correo hace un mes pidiendo que ya no usaran nuestra información", True),
    ("Hace un mes nos mandaban ofertas", True),
    ("Me di de baja hace meses y ahora no me llega ningún descuento", True),  # not arriving: no request
    ("Me di de baja hace meses y no me manden nada", False),
    ("Hace un mes que lo pienso y ya no quiero publicidad", False),
    # what someone else said is the story too, unless the part asks with a please of its own
    ("The rep said my account is flagged no marketing", True),
    ("La muchacha me dijo que no me mandan esas ofertas", True),
    ("Me explicó que no es que vendan los datos", True),
    ("The agent told me to write, so please opt me out", False),
    ("Stop using my data, the rep knows", False),
    # ... and what the account holder wants, relayed, is asked now
    ("She says she wants to receive offers again, she had turned them off before", False),
    ("Mi mamá me dijo que ella quiere recibir las ofertas otra vez", False),
    # an imperfect in -ían tells the past ("podían"), like one in -aban
    ("El año pasado les dije que sí podían usar mi información para las ofertas", True),
    ("Pueden usar mi información para las ofertas", False),
    # what was wanted or asked for before, in someone's words, is the story too
    ("A couple years ago our old manager told you we didn't want any marketing", True),
    ("Two years ago she told your store to opt me out of everything", True),
    ("Hace tiempo alguien de la oficina pidió que no usaran nuestros datos", True),
    ("Mi esposo llamó hace unos meses y pidió que no nos mandaran promociones", True),
    ("Mi hija me dio de baja de las ofertas sin preguntarme", True),
    ("I already emailed once. Please opt me out", False),
    ("I did not want this before and I want out now", False),
    # what the customer quoted or a told message said was asked then, not now
    ('Yesterday I replied "yes sign me up" to your email about deals', True),
    ("Last month I emailed saying opt me back in because of the student deal", True),
    ("When I signed up I ticked the box saying you could use my info for offers", True),
    ("Some time ago my husband asked you to stop sending us ads", True),
    ("Yesterday I replied to your email, please opt me out", False),
    # a past subjunctive in -asen, "el pasado mes", and "sin querer" (by mistake) ask nothing now
    ("El pasado mes de enero les solicité que reactivasen las comunicaciones comerciales", True),
    ("Me di de baja sin querer", True),
    ("Today I got an email thanking me for agreeing to let you use my account info", True),
    ("Hoy me llegó un correo que dice que acepté que usen mis datos", True),
    ("Mi hija me registró para las ofertas cuando me compró el celular", True),
    ("The associate asked me to sign for the receipt", True),
    # a request reported in the past subjunctive was asked then, whatever the folded verb reads like ...
    ("El año pasado pedimos que no se usara nuestra información para mercadeo", True),
    ("Nuestra empresa solicitó en 2021 que no se usaran nuestros datos para publicidad", True),
    # ... but a polite conditional asks now, and so does a present subjunctive
    ("Quisiera que no usaran mis datos", False),
    ("Pido que no usen mis datos", False),
    # what was replied, by mistake, or asked in an email, is the story
    ("I replied STOP to one of your texts on Friday", True),
    ("Respondí baja a un mensaje de ustedes el viernes", True),
    ("I sent an email last week asking to be opted out", True),
    ("Marqué sin querer la casilla de no participar", True),
    # someone helped the customer opt out: what they did then; "please help me opt out" asks now
    ("My granddaughter helped me opt out of your marketing last spring,", True),
    ("Last year my grandson helped me opt out of your mailings", True),
    ("Please help me opt out", False),
    # what someone put the customer on, and what the customer said then; "as I said" repeats it now
    ("When I signed up in Phoenix the rep put me on your do-not-market list, by default I guess", True),
    ("Last year the rep put me on the do-not-market list, please put me back on it", False),
    ("January I opted out, February I said opt me back in", True),
    ("Last week I said opt me out. As I said, opt me out", False),
])
def test_a_clause_that_tells_the_past_is_one_that_asks_nothing_now(text: str, told: bool) -> None:
    assert intent_model._told(intent_model.normalize(text)) is told


@pytest.mark.parametrize(("word", "concept"), [
    ("restauren", "again"), ("reactivate", "again"), ("desactiven", "stop"), ("agreeing", "consent"), ("utilizando", "use"),
    ("llamadas", "send"), ("rechazamos", "refuse"),
    # ... but not a request ("solicitud") as "solicit"
    ("solicitud", None),
])
def test_other_forms_of_a_lexicon_word_read_as_its_concept(word: str, concept: str | None) -> None:
    assert intent_model._concept(word) == concept


@pytest.mark.parametrize(("text", "normalized"), [
    ("I changed my mind, opt me out", "i now, opt me out"),  # a change, in neither direction
    ("Cambié de opinión: quiero las ofertas", "now: quiero las ofertas"),
    ("I want to go back to being opted out", "i want to be opted out"),
    ("Applying for the Sales Associate opening, my resume is attached", "applying for the job associate opening, cv is attached"),
    # an offer to be reached, closing a letter, sets no condition; money wanted back is a refund
    ("Please stop. Any questions, contact me at this email.", "please stop. contactoffer."),
    ("If we need something we'll call you.", "contactoffer."),
    ("Si necesitan algo más, llámenme.", "contactoffer."),
    ("And I still want the $35 back", "and i still want the refund"),
    # "out" after a verb it asks nothing of; a fault that goes on keeps nothing
    ("Somebody needs to figure out why my internet drops. The tech came out once.",
     "somebody needs to figure why my internet drops. the tech came once."),
    ("Internet keeps dropping, and the TV keep freezing", "internet dropping, and the tv freezing"),
    ("El internet se sigue cayendo", "el internet se cayendo"),
    ("Opt me out, count me out, keep me out", "opt me out, count me out, keep me out"),
    ("I want to keep getting offers", "i want to keep getting offers"),
])
def test_words_that_say_no_direction_are_read_for_what_they_mean(text: str, normalized: str) -> None:
    assert intent_model.normalize(text) == normalized


def test_a_question_beside_a_told_story_still_goes_to_a_person(model) -> None:  # noqa: ANN001
    # the doubt is asked now: what is left once the story is set aside does not decide
    body = "How did you get this email address? I never gave it to marketing. Who else has it?"
    assert classify(model, "Re: letter", body).intent is not Intent.OPT_OUT


def test_a_spanish_list_of_no_marketing_is_the_do_not_market_list() -> None:
    assert "c_reverse" in intent_model.features("Por favor quítenlo de la lista de no marketing")
    assert "c_remove" not in intent_model.features("Por favor quítenlo de la lista de no marketing").split("\n\n")[-1].split()


@pytest.mark.parametrize(("body", "intent"), [
    # what someone else said or asked before is the story: the customer asks for the offers ...
    ("I was at the store today and the rep said my account is flagged no marketing and I need to email you to "
     "fix it. So: I consent, please restore marketing on my account.", Intent.OPT_IN),
    ("Fui a la tienda y la muchacha me dijo que como yo me había excluido del mercadeo el año pasado no me mandan "
     "esas ofertas. Pues ya no quiero estar excluida. Quiero que me vuelvan a mandar las promos.", Intent.OPT_IN),
    ("Mi esposa mandó un correo hace un mes pidiendo que ya no usaran nuestra información para promociones, pero "
     "no me consultó. Los dos queremos recibir las ofertas. Por favor reactiven el permiso.", Intent.OPT_IN),
    # ... and an opt-in told is the story beside the opt-out asked now
    ("A few weeks ago I emailed saying opt me back in because of the phone upgrade deal. The texts have not stopped "
     "since. Opt me out again please, and no marketing with my account info.", Intent.OPT_OUT),
    ("Last spring I told the store it was fine to use my info for offers. Changed my mind. Opt me out please.",
     Intent.OPT_OUT),
    ("Hace dos meses les escribí que sí aceptaba las promociones. Ya me arrepentí. Quiero que me quiten de la lista "
     "y que no usen mis datos para eso.", Intent.OPT_OUT),
    # ... so is a doubt told ("asked if it was ok ... I said sure")
    ("Last year a rep at the kiosk asked if it was ok to send me deals and I said sure. I regret that. Stop using my "
     "account info for marketing.", Intent.OPT_OUT),
])
def test_what_is_asked_now_decides_not_the_story_told(model, body: str, intent: Intent) -> None:  # noqa: ANN001
    assert classify(model, "", body).intent is intent


def test_a_refusal_beside_what_the_rep_said_is_still_a_refusal(model) -> None:  # noqa: ANN001
    result = classify(model, "", "The rep said I would get a discount for staying. Stop using my data for marketing.")
    assert result.intent is Intent.OPT_OUT


def test_an_opt_in_is_not_held_by_the_story_of_an_earlier_opt_out() -> None:
    text = "You can use my info for offers again. I opted out a couple of years ago and that was a mistake."
    story = [("info for offers again. i opted", {"opt_in": 0.95, "opt_out": 0.05}),  # the whole message
             ("you can use", {"opt_in": 0.95, "opt_out": 0.05}),
             ("i opted out", {"opt_out": 0.9, "opt_in": 0.1})]
    result = _ByWords(story, {"unrelated": 1.0}).real.classify("", text)
    assert result.intent is Intent.OPT_IN and result.reasons == ("model:intent opt_in 0.95",)
    # the same opt-out clause asked now still conflicts
    asked = "Please opt me out. You can use my info for offers again."
    now = [("out. you can", {"opt_in": 0.95, "opt_out": 0.05}), ("you can use", {"opt_in": 0.95}),
           ("please opt me out", {"opt_out": 0.9, "opt_in": 0.1})]
    result = _ByWords(now, {"unrelated": 1.0}).real.classify("", asked)
    assert result.intent is Intent.AMBIGUOUS and "model:intent clauses_conflict" in result.reasons
    # an opt-in that only the story reads is history, not a request: for a person
    history = "I signed up for the offers last year. My bill is too high."
    told = [("last year. my bill", {"opt_in": 0.9, "unrelated": 0.1}),
            ("i signed up", {"opt_in": 0.9, "unrelated": 0.1}), ("my bill", {"unrelated": 1.0})]
    result = _ByWords(told, {"unrelated": 1.0}).real.classify("", history)
    assert result.intent is Intent.AMBIGUOUS and "model:intent clauses_conflict" in result.reasons


class _SaysOptIn:
    """A classifier that reads every message as a sure opt-in: what the safety net does beside one."""

    name = "stand-in"

    def classify(self, subject: str, text: str):  # noqa: ANN201
        from optout_daemon.pipeline.types import Classification  # noqa: PLC0415
        return Classification(Intent.OPT_IN, 0.95, {"opt_out": 0.02, "opt_in": 0.95, "ambiguous": 0.02,
                                                    "unrelated": 0.01}, "stand-in", ())


def test_the_safety_net_does_not_read_the_story_of_an_earlier_opt_out_beside_an_opt_in() -> None:
    from optout_daemon.pipeline.classify import GuardedClassifier  # noqa: PLC0415

    guard = GuardedClassifier(_SaysOptIn())
    for text in ("Me di de baja hace meses pero ahora quiero las ofertas otra vez.",
                 "I unsubscribed last year. I miss the deals, sign me back up.",
                 "Mi mamá quiere volver a recibir las ofertas, ella se dio de baja por error.",
                 "That opt-out from before is void as far as I'm concerned, send me the offers.",
                 "Back in January I told you to stop using my information for offers. Go ahead and use it again."):
        assert "keywords_suggest_opt_out" not in guard.classify("", text).reasons, text
    # ... a part after a comma that asks to opt out now is still held
    assert "keywords_suggest_opt_out" in guard.classify("", "I want the offers back, and opt me out of texts.").reasons
    # an opt-out asked now, beside the opt-in, is still held for a person
    result = guard.classify("", "I unsubscribed last year. Remove me again, the offers are back.")
    assert result.scores["opt_out"] >= GuardedClassifier.GUARD_SCORE
    result = guard.classify("", "I already told you don't use my data for ads.")  # told, but asks now
    assert result.scores["opt_out"] >= GuardedClassifier.GUARD_SCORE


def test_the_safety_net_beside_an_opt_in_reads_neither_a_replys_subject_nor_an_opt_out_named_as_a_thing() -> None:
    from optout_daemon.pipeline.classify import GuardedClassifier  # noqa: PLC0415

    guard = GuardedClassifier(_SaysOptIn())
    # the subject a reply quotes is the carrier's (or an earlier mail's) words
    for subject, text in (("Re: Your opt-out has been processed", "No wait, I want the deals, keep me in."),
                          ("RE: Confirmación de baja", "Yo sí quiero las promociones, fue mi hijo."),
                          ("", "My son made the opt out on my account without asking me. I like the offers, put me back."),
                          ("", "Mi hija hizo la baja sin preguntarme, yo sí quiero las promociones."),
                          ("", "ya pueden volver a mandarme promos, me arrepentí de la baja"),
                          # an opt-out undone, named in the subject or the words
                          ("Reversing my earlier opt-out", "I have changed my mind. Please use my info for offers again."),
                          ("", "ya pueden mandarme las ofertas otra vez, me arrepentí de lo de la baja jaja"),
                          ("", "Ya pueden volver a usar mis datos para ofertas, quiten la baja por favor.")):
        assert "keywords_suggest_opt_out" not in guard.classify(subject, text).reasons, (subject, text)
    # a subject of the sender's own still counts, and so does an opt-out asked for in the words
    for subject, text in (("Opt out", "I like the deals on tablets."), ("Re: offers", "Keep my offers, and opt me out of texts."),
                          ("", "I like the offers but the opt out is what I want: opt me out."),
                          # an opt-out named as what is wanted now is a request
                          ("otra vez la baja", "El mes pasado me volví a inscribir por la promo, pero ya cambié de opinión. "
                                               "Quiero la baja otra vez de la mercadotecnia."),
                          ("", "I changed my mind again. I want the opt out back, for good."),
                          ("", "Tramiten mi baja de la publicidad, ya no quiero las ofertas.")):
        assert "keywords_suggest_opt_out" in guard.classify(subject, text).reasons, (subject, text)


@pytest.mark.parametrize("subject, body", [
    ("Application - Marketing Analyst (Req #4471)",
     "Dear Hiring Manager,\n\nI'm writing to apply for the Marketing Analyst position posted on your careers page. I have "
     "four years of experience in customer segmentation and campaign analytics, including reporting on opt-in rates for "
     "email campaigns. My resume is attached.\n\nThank you for your consideration."),
    ("Marketing Coordinator", "Please find attached my resume for the Marketing Coordinator position. I'm excited about the "
                              "opportunity to join your team and can start at once. I'm available for an interview."),
])
def test_an_opt_in_read_in_a_job_application_goes_to_a_person(model, subject: str, body: str) -> None:  # noqa: ANN001
    result = classify(model, subject, body)
    assert result.intent is not Intent.OPT_IN or result.confidence < 0.8, result


@pytest.mark.parametrize(("text", "shown"), [
    ("How much is a new line? I want you to stop looking at my calls to sell me plans.", True),
    ("Sorry, wrong address. Anyway: no promotional calls anymore please.", True),
    ("My payment didn't post. Quit hiding the deals from me.", True),
    ("Mi factura llegó mal. Dejen de usar mis datos para venderme cosas.", True),
    ("Please stop emailing me my bill.", False),  # no marketing word: a billing request
    ("My phone was stolen, please suspend the line so nobody can use it.", False),
    ("Quiero dejar de recibir la factura en papel.", False),
    ("Great deals this week! To stop these emails, reply STOP.", False),  # a mailing's footer
    ("Solicito que no usen mi CPNI. Also, no me llega señal en el cuarto.", True),  # a negated use of data
    ("I can't use my phone since the update.", False),
    ("ya pagué la factura el viernes y de ahora en adelante nada de promociones", True),  # "nada de": no
    # a clause of a few words that is only the answer to the notice, beside a support question
    ("Me excluyo. Also, hola, necesito ayuda con el traslado de mi servicio.", True),
    ("What time do you close on Sundays? Unsubscribe.", True),
    ("Remove my ex-husband from my account.", False),  # longer: what is removed is named
    ("Su cuenta ha sido suspendida. Verifique sus datos en el siguiente enlace.", False),
    # not to be removed, and what is wanted kept: an opt-in; not to be removed, and a support question: support
    ("no me den de baja quiero los descuentos", True),
    ("I don't want to unsubscribe from anything, I need help with my voicemail.", False),
])
def test_unrelated_mail_whose_words_ask_about_marketing_goes_to_a_person(text: str, shown: bool) -> None:
    model = _ByWords([], {"unrelated": 0.9, "opt_out": 0.1}).real  # the model and every clause: unrelated
    result = model.classify("", text)
    assert (result.intent is Intent.AMBIGUOUS and "model:intent request_words" in result.reasons) is shown
    assert shown or result.intent is Intent.UNRELATED


def test_a_request_in_the_subject_alone_is_read_by_the_clause_checks() -> None:
    model = _ByWords([], {"unrelated": 0.9, "opt_out": 0.1}).real  # the model and every clause: unrelated
    result = model.classify("When is my contract up? i revok my consnet for marketting.", "")
    assert result.intent is Intent.AMBIGUOUS and "model:intent request_words" in result.reasons
    assert model.classify("When is my contract up?", "").intent is Intent.UNRELATED
    # ... and beside a body that holds only an account number
    result = model.classify("When is my contract up? i revok my consnet for marketting.", "Account number 7000001797")
    assert result.intent is Intent.AMBIGUOUS and "model:intent request_words" in result.reasons
    assert model.classify("Re: Your CPNI choices", "My bill is wrong.").intent is Intent.UNRELATED


def test_names_in_signatures_are_not_typos_of_lexicon_words() -> None:
    for name in ("Nadia Farouk", "Chase Miller", "Denise Kim", "Olivia", "Heather", "Linda Patel", "Emily"):
        assert intent_model.concepts(intent_model.normalize(name)) == [], name


@pytest.mark.parametrize(("text", "concept"), [
    ("I am revoking my consent.", "c_stop"),
    ("Levanten el bloqueo de publicidad en mi línea.", "c_reverse"),
    ("I previously denied consent. I would now like to withdraw that denial.", "c_reverse"),
    ("Retiro mi negativa, pueden usar mis datos.", "c_reverse"),
    ("Dejen sin efecto mi exclusión.", "c_reverse"),
    ("Quítenme de la lista de no comercializar.", "c_dnm"),
    ("Pull my number off the no-marketing list.", "c_dnm"),
    ("Restrinjan mis datos, con tal de que no me suban el precio.", "c_cond"),
    ("Whatever I said about keeping my info out of promotions, scratch that.", "c_reverse"),
    ("WHATEVER I TOLD YOU BEFORE ABOUT NO MARKETING, FORGET IT. I'M IN.", "c_reverse"),
    ("I dey consent to the use of my CPNI.", "c_refuse"),
    ("Pull me off the no-promotions list.", "c_dnm"),
    ("Ya no hace falta la restricción en mi CPNI.", "c_reverse"),
    # stop requests about marketing keep their words beside the support rewrites (seventeenth round)
    ("Remove my number from your marketing list.", "c_remove"),  # marketing named: still a request
    ("Den de baja mi línea de la publicidad.", "c_remove"),
    ("Cancel the marketing on my account.", "c_stop"),
    ("Cancel my opt-out.", "c_reverse"),
    ("No me manden mensajes con ofertas.", "c_nsend"),
    ("Quiero salirme de la publicidad.", "c_remove"),
    ("My answer is no.\nAcct 1234", "c_neg"),
    ("cancel my opt-out\n\nAccount number 7000000930", "c_reverse"),  # the account on the next line is no service
    ("Clear the do-not-market flag on my line.", "c_reverse"),
    ("Stop holding back the deals from my account, I consent.", "c_reverse"),
    ("Quit keeping the deals away from my line.", "c_reverse"),
    ("Keep my data away from marketers.", "c_stop"),
    ("Mantengan mi información lejos de su publicidad.", "c_stop"),
    ("Leave my info alone, no more promos.", "c_stop"),
    ("Déjenme en paz con las promociones.", "c_stop"),
    ("Stop sending me promos.", "c_stop"),
    ("Quiero la exclusión del CPNI YA.", "c_remove"),  # asking for the state: a request to be excluded
    ("I request an opt-out for the account below.", "c_remove"),
    ("Quiero que quiten mi exclusión.", "c_reverse"),  # the state, undone
    ("Bloqueen la publicidad.", "c_stop"),
    ("Please add my number to your promotions.", "c_add"),
    ("Add me back to the offers.", "c_add"),
])
def test_more_ways_to_say_it(text: str, concept: str) -> None:
    assert concept in intent_model.concepts(intent_model.normalize(text)), text


def test_setting_aside_needs_a_refusal_earlier_in_the_sentence() -> None:
    for text in ("Stop the promos. Forget the rest of my email.", "Forget it, opt me out.",
                 "Please stop the promos, forget about my last email."):
        assert "c_reverse" not in intent_model.concepts(intent_model.normalize(text)), text


def test_what_the_sender_cannot_do_is_no_refusal() -> None:
    for text in ("No puedo mandar mensajes con fotos.", "I can not send pictures.", "I cannot send texts."):
        assert "c_nsend" not in intent_model.concepts(intent_model.normalize(text)), text
    for text, concept in (("No pueden usar mis datos.", "c_nuse"), ("You can not use my data.", "c_nuse"),
                          ("No me manden ofertas.", "c_nsend")):
        assert concept in intent_model.concepts(intent_model.normalize(text)), text


def test_no_marketing_is_a_refusal_and_only_the_no_marketing_list_a_place() -> None:
    assert "c_nmkt" in intent_model.concepts(intent_model.normalize("No marketing please."))
    assert "c_dnm" not in intent_model.concepts(intent_model.normalize("No marketing please."))


def test_setting_aside_a_refusal_and_leaving_the_excluded_group_are_reversals() -> None:
    for text in ("Ignoren mi solicitud de no usar mis datos, ya lo autorizo.",
                 "Sáquenme del grupo de clientes excluidos.", "Remove me from the excluded customers list."):
        assert "c_reverse" in intent_model.concepts(intent_model.normalize(text)), text
    for text in ("Please stop sending me promos.", "Ignoren el correo anterior, no usen mis datos para nada.",
                 "Remove me from your marketing list."):
        assert "c_reverse" not in intent_model.concepts(intent_model.normalize(text)), text


def test_an_opt_out_answer_to_a_negated_removal_goes_to_a_person() -> None:
    model = _ByWords([], {"opt_out": 0.9, "unrelated": 0.1}).real  # the model reads every text as opt_out
    _assert_for_a_person(model, ("I no longer want to be opted out.", "Please do not opt me out."), "opt_out_negated")
    # a refusal beside it is an opt-out: "NO autorizo ... ni por parte de ustedes"
    for text in ("NO autorizo el uso de mi CPNI, ni por parte de ustedes ni de sus afiliados.",
                 "Don't remove my number from billing, but don't use my data for ads."):
        assert model.classify("", text).intent is Intent.OPT_OUT, text


def test_an_opt_out_read_without_a_request_word_or_in_a_footer_goes_to_a_person() -> None:
    model = _ByWords([], {"opt_out": 0.9, "ambiguous": 0.1}).real  # the model: opt_out, however sure
    for text, reason in (("please process thanks", "opt_out_without_request_words"),
                         ("Ditto.", "opt_out_without_request_words"),
                         ("Congrats! You won a gift card. Reply STOP to opt out.", "opt_out_in_a_footer")):
        result = model.classify("", text)
        assert result.intent is Intent.AMBIGUOUS and f"model:intent {reason}" in result.reasons, text
    for text in ("Opt me out.", "stop", "Not interested.", "Baja por favor"):
        assert model.classify("", text).intent is Intent.OPT_OUT, text


def test_an_opt_in_answer_beside_a_refusal_said_now_goes_to_a_person() -> None:
    model = _ByWords([], {"opt_in": 0.95, "ambiguous": 0.05}).real  # the model: opt_in, sure of it
    _assert_for_a_person(model, ("Ya les dije. No quiero que vuelvan a usar mis datos para promociones.",
                 "Don't send me offers anymore."), "opt_in_beside_a_refusal")
    # asking for the exclusion is a stop request of its own
    result = model.classify("", "Quiero la exclusión del CPNI ya. No quiero que vuelvan a usar mis datos para promociones.")
    assert result.intent is Intent.AMBIGUOUS and "model:intent opt_in_beside_a_stop_request" in result.reasons
    # consent given over a negated objection, or a refusal told as the story before the opt-in
    for text in ("No tengo problema con que usen mis datos.", "I don't mind you using my info for offers.",
                 "Hace un año pedí que no usaran mis datos. Ahora quiero las ofertas otra vez."):
        assert model.classify("", text).intent is Intent.OPT_IN, text


def test_no_longer_is_one_negation_and_common_words_are_not_typos() -> None:
    assert intent_model.concepts("i no longer want to be opted out")[:3] == ["c_neg", "c_nwant", "c_nremove"]
    for word in ("thank", "james", "padre", "parte", "usted", "there"):
        assert intent_model._concept(word) is None, word
    assert intent_model._concept("stoop") == "stop" and intent_model._concept("unsubscibe") == "remove"


def test_the_stop_words_of_a_story_told_after_an_opt_in_do_not_hold_it() -> None:
    model = _ByWords([], {"opt_in": 0.95, "opt_out": 0.05}).real  # every text reads as an opt-in
    told = "Quiero volver a recibir las promos. Me había borrado hace meses."
    assert model.classify("", told).intent is Intent.OPT_IN
    asked = "Quiero volver a recibir las promos. Mejor no, bórrenme."
    result = model.classify("", asked)
    assert result.intent is Intent.AMBIGUOUS and "model:intent opt_in_beside_a_stop_request" in result.reasons


@pytest.mark.parametrize(("text", "absent"), [
    # "solo que ..." is "it's just that": no condition on the refusal after it
    ("Mi servicio está muy bien. Solo que no quiero publicidad.", "c_cond"),
    ("Todo bien con la línea, sólo que no me manden ofertas.", "c_cond"),
    # "mientras tanto" is "meanwhile", not "mientras" (as long as)
    ("Mientras tanto siguen llegando ofertas a su nombre.", "c_cond"),
    # a contract's "including but not limited to": no "but", no negation, and "including" adds no one
    ("Opt out all corporate lines, including but not limited to master account 0.", "c_neg"),
    ("Opt out all corporate lines, including but not limited to master account 0.", "c_add"),
    ("Excluyan todas las líneas, incluyendo la de mi esposa.", "c_add"),
    # support that looks like a stop request
    ("i ran out of data how do i buy more", "c_remove"),  # "out" of data is no opt-out
    ("Please remove my old number from the account.", "c_remove"),
    ("Remove the extra line we don't use.", "c_remove"),
    ("Remove the international add-on from my plan.", "c_remove"),
    ("Quiero cancelar esa línea y pagar lo que se deba.", "c_stop"),  # "pagar" is not a typo of "parar"
    ("Quiero dar de baja la línea de mi hijo.", "c_remove"),
    ("Paren el envío de los cheques de reembolso a mi dirección vieja.", "c_send"),
    ("APRUEBO. Also, no me llegan los mensajes de los iPhone.", "c_nsend"),  # not received: no refusal
    ("Quiero salirme del plan familiar y tener mi propia cuenta.", "c_remove"),  # leaving a plan
    ("No. de cuenta #768958313", "c_neg"),  # "No." of a number is no "no"
    ("Mobile data stopped working yesterday.", "c_stop"),
    ("El internet dejó de funcionar.", "c_stop"),
    ("Bloqueen al 555-0199, me está acosando.", "c_stop"),  # a caller blocked
    ("Block this number please.", "c_stop"),
    ("Please add international calling to Mexico.", "c_add"),  # a service added, not consent
    ("Agreguen una línea para mi hija.", "c_add"),
    ("Acct no. 5106-225-274", "c_neg"),
])
def test_words_that_set_no_condition_add_no_one_or_ask_to_stop_nothing(text: str, absent: str) -> None:
    assert absent not in intent_model.concepts(intent_model.normalize(text)), text


def test_a_condition_and_an_inclusion_are_still_read() -> None:
    for text, concept in (("Opt me out only for the texts.", "c_cond"), ("Solo quiero que paren los mensajes.", "c_cond"),
                          ("Exclúyanme mientras no pierda el descuento.", "c_cond"),
                          ("Please include me in the offers again.", "c_add")):
        assert concept in intent_model.concepts(intent_model.normalize(text)), text


def test_a_partial_request_or_a_doubt_without_a_mark_goes_to_a_person() -> None:
    model = _ByWords([], {"opt_out": 0.95, "ambiguous": 0.05}).real
    _assert_for_a_person(model, ("Opt out the tablet line, leave my phone as it is.",
                 "I object to you using my records to sell me things. But not for my wife's line.",
                 "Part of me wants the offers, part of me doesn't want my data used.",
                 "Stop the marketing, assuming my price stays the same."), "opt_out_with_a_condition")
    # a doubt or a question tacked on without a mark is a clause of its own, which the conflict check reads
    assert intent_model._clauses("no autorizo el uso de mi cpni bueno no sé qué me recomiendan") == [
        "no autorizo el uso de mi cpni", "bueno no sé qué me recomiendan"]
    assert intent_model._clauses("my answer is no do not use my information or would that affect my contract") == [
        "my answer is no do not use my information", "or would that affect my contract"]
    assert intent_model._clauses("opt me out or else") == ["opt me out or else"]
    assert intent_model._clauses("my wife says no more promotions i say please use our info for offers") == [
        "my wife says no more promotions", "i say please use our info for offers"]  # a second speaker


def test_an_opt_out_answer_to_a_question_without_a_request_word_goes_to_a_person() -> None:
    model = _ByWords([], {"opt_out": 0.95, "ambiguous": 0.05}).real
    _assert_for_a_person(model, ("¿Tengo activada la opción de publicidad? No me acuerdo qué escogí.",
                 "What marketing options do I have on my account?",
                 "Could you tell us whether an opt-out applies to all 12 lines or has to be done line by line?",
                 "I'd like to know if opting out would change my plan.",
                 "Question about CPNI opt-out for business account\n\nDoes it apply to every line?"), "opt_out_only_asks")
    for text in ("What is this? Stop using my data for marketing.", "Can you take me off the do-not-market list?",
                 "¿Me pueden quitar de la publicidad?", "Opt me out. I also wonder if my bill will change.",
                 "Stop the promos, not sure if that changes anything."):
        assert "model:intent opt_out_only_asks" not in model.classify("", text).reasons, text


def test_a_complaint_that_it_was_ignored_and_the_fine_print_decide_nothing() -> None:
    for text in ("So either you lost it or you ignored it.", "I work in infosec so I read the fine print."):
        assert not [c for c in intent_model.concepts(intent_model.normalize(text)) if c in ("c_void", "c_consent")], text
    assert "c_void" in intent_model.concepts(intent_model.normalize("Please ignore my last email."))
    assert "c_consent" in intent_model.concepts(intent_model.normalize("That is fine with me."))


def test_a_clause_that_only_names_a_topic_asks_for_nothing_against_the_request() -> None:
    # "welcome offers and deals" holds only a topic: whatever a model reads in it, it asks for no offers
    rules = [("deals. please", {"opt_out": 0.9, "opt_in": 0.1}),  # the whole message
             ("welcome offers", {"opt_in": 0.89, "opt_out": 0.11}), ("send me", {"opt_in": 0.95, "opt_out": 0.05}),
             ("opt me out", {"opt_out": 0.95, "opt_in": 0.05})]
    model = _ByWords(rules, {"unrelated": 1.0}).real
    assert set(intent_model._concept_words(intent_model.features("Now I'm getting welcome offers and deals"))) == {"c_mkt"}
    assert not model._clauses_conflict("Now I'm getting welcome offers and deals. Please opt me out again.", "opt_out")
    # a clause that asks for the offers still conflicts with the opt-out
    assert model._clauses_conflict("Send me the deals. Please opt me out again.", "opt_out")


def test_the_notice_reported_is_no_doubt_beside_the_request() -> None:
    # the clause that tells what the notice says reads as a condition, but it is the carrier's
    model = _ByWords([("unless", {"ambiguous": 0.9, "opt_out": 0.1})], {"opt_out": 0.95, "ambiguous": 0.05}).real
    assert not model._clauses_conflict(
        "Your notice says you use CPNI for marketing unless I opt out. I'm opting out, for every line.", "opt_out")
    assert model._clauses_conflict("I'll opt out unless it costs me. I'm opting out, for every line.", "opt_out")


def test_a_condition_that_only_threatens_is_no_condition_for_the_model_either() -> None:
    # every word of a condition, not only "if": the rules read the same features, so neither holds the request
    for text in ("Quiero la exclusión del CPNI YA. Si me vuelven a llamar voy a poner una queja con la FCC.",
                 "If you call again I'm switching carriers. Stop the promos.",
                 "Stop the promos. Unless you fix my bill by Friday I will report you to the FCC.",
                 "No usen mis datos. A menos que arreglen mi factura, me cambio de compañía."):
        assert "c_cond" not in intent_model.features(text), text
        assert not intent_model._sets_a_condition(text, intent_model.features(text)), text
    for text in ("Opt me out if it does not cost me anything.", "Stop the promos if you can, or I will complain to the FCC.",
                 "Opt me out unless it costs me my discount."):
        assert "c_cond" in intent_model.features(text), text
    for text in ("Opt me out if it does not cost me anything.", "Opt me out unless it costs me my discount."):
        assert intent_model._sets_a_condition(text, intent_model.features(text)), text
    assert "c_keep" not in intent_model.features("Ya les dije DOS veces por teléfono y siguen.")


def test_long_mail_is_read_by_its_request_only_when_a_clause_asks_for_something() -> None:
    story = ("Dear carrier, I would like to complain about the store at 5th and Main and its phone cases. "
             "I went in to buy a phone case and the salesman spent twenty minutes trying to get me to switch plans, "
             "which was not what I came in for on my lunch break today. ")
    assert len(story) + 30 > intent_model.FOCUS_MIN_CHARS
    rules = [("store", {"unrelated": 0.95, "opt_out": 0.05}), ("salesman", {"unrelated": 0.98, "opt_out": 0.02})]
    weak = _ByWords([*rules, ("said no", {"opt_out": 0.4, "ambiguous": 0.35, "unrelated": 0.25})],
                    {"opt_out": 0.45, "unrelated": 0.3, "ambiguous": 0.25}).real
    assert weak._focus(story + "I said no four times, and no is no for marketing.") == ""  # nothing asks: no focus
    strong = _ByWords([*rules, ("opt me out", {"opt_out": 0.95, "ambiguous": 0.05})],
                      {"opt_out": 0.45, "unrelated": 0.3, "ambiguous": 0.25}).real
    assert strong._focus(story + "Also, opt me out of marketing.") == "Also, opt me out of marketing"


def test_an_opt_out_answer_to_mail_that_says_it_asks_nothing_goes_to_a_person() -> None:
    model = _ByWords([], {"opt_out": 0.9, "unrelated": 0.1}).real
    for text in ("The salesman spent twenty minutes on a new plan. I said no four times. I'm not asking anything of "
                 "your marketing department, I just think the staff should listen.",
                 "El vendedor insistió con el plan. No les estoy pidiendo nada, solo que capaciten a su personal.",
                 "Just so you know, I'm not requesting anything: the store on Main was rude."):
        result = model.classify("", text)
        assert result.intent is Intent.AMBIGUOUS and "model:intent opt_out_asks_nothing" in result.reasons, text
    # a complaint about what was done is no such statement: "I didn't request that" asks nothing either way
    assert model.classify("", "Stop the promos. I didn't request that upgrade.").intent is Intent.OPT_OUT


def test_a_long_letter_read_as_ambiguous_is_read_by_its_clear_request_when_nothing_in_it_doubts() -> None:
    story = ("I lost my wife in the spring and since then I have been getting a lot of calls from different "
             "companies trying to sell me things. I find it difficult to talk to people on the phone these days, "
             "and the evenings are the hardest part. ")
    request = "I would like you to stop using my phone records and my account for selling and advertising."
    rules = [("these days, and", {"ambiguous": 0.56, "opt_out": 0.39, "unrelated": 0.05}),  # the whole letter
             ("would like you to stop", {"opt_out": 0.99, "ambiguous": 0.01}),
             ("lost my wife", {"ambiguous": 0.61, "opt_out": 0.2, "unrelated": 0.19}),
             ("maybe", {"ambiguous": 0.9, "opt_out": 0.1})]
    model = _ByWords(rules, {"unrelated": 0.76, "ambiguous": 0.24}).real
    result = model.classify("please", story + request)
    assert result.intent is Intent.OPT_OUT and "model:intent read_by_its_request" in result.reasons
    # a hedge anywhere in it leaves it to a person, and so does a short message
    assert model.classify("please", story + request + " Or maybe later.").intent is Intent.AMBIGUOUS
    short = _ByWords([("the hardest", {"ambiguous": 0.56, "opt_out": 0.44}), *rules[1:]], {"unrelated": 1.0}).real
    assert short.classify("", "The evenings are the hardest. " + request).intent is Intent.AMBIGUOUS
    # a letter read as an opt-out but unsurely, for the story around its request, is read by the request too
    unsure = _ByWords([("these days, and", {"opt_out": 0.66, "ambiguous": 0.3, "unrelated": 0.04}), *rules[1:]],
                      {"unrelated": 0.76, "ambiguous": 0.24}).real
    result = unsure.classify("please", story + request)
    assert result.intent is Intent.OPT_OUT and result.confidence == 0.99
    assert "model:intent read_by_its_request" in result.reasons
    assert unsure.classify("please", story + request + " Or maybe later.").intent is Intent.AMBIGUOUS
    # "some of them are from you" in a story is no partial request; "stop some of the promos" is one
    assert not intent_model._PARTIAL.search(intent_model.features("some of them are from you, trying to sell me things"))
    assert intent_model._PARTIAL.search(intent_model.features("Stop some of the promos, there are too many."))


@pytest.mark.parametrize(("text", "present", "absent"), [
    # setting a consent aside withdraws it; setting an opt-out aside stays a reversal
    ("I retract my consent.", "c_stop", "c_void"),
    ("Me retracto de la autorización que di para ofertas.", "c_stop", "c_void"),
    ("Rescind my permission for marketing.", "c_stop", "c_void"),
    ("Retract my opt-out.", "c_reverse", "c_stop"),
    # a refusal named by its noun is a refusal, unless it is withdrawn
    ("Registren mi negativa al uso de mis datos.", "c_refuse", "c_objection"),
    ("Please register my refusal.", "c_refuse", "c_objection"),
    ("Retiro mi negativa.", "c_reverse", "c_refuse"),
    # a noun of joining, the object of a stop verb, joins nothing
    ("End my participation in marketing.", "c_stop", "c_add"),
    ("Cancelen mi suscripción a las promociones.", "c_stop", "c_add"),
    ("Add my subscription back.", "c_add", "c_stop"),
    # a question typed after "or", pointing back at the request
    ("please process my opt out request or would that affect my contract", "c_qstart", "c_nothing"),
    ("Stop the promos or is that going to change my plan", "c_qstart", "c_nothing"),
    ("Opt me out or I will switch carriers.", "c_remove", "c_qstart"),
    # the restriction put back is no marketing put back
    ("Please reinstate my opt-out.", "c_keep", "c_add"),
    ("Put me back on the do not market list.", "c_dnm", "c_again"),  # on the list: no "back" to the offers
    ("Void the opt-out I sent in March.", "c_reverse", "c_outstate_send_nothing"),
    ("Please avoid sending me promos.", "c_stop", "c_void"),
    # a typed "authorized user": support, not an opt-in
    ("Please add my wife as an authorzeid user.", "c_support", "c_add"),
    # "away" typed wrong still keeps the deals away
    ("Quit keeping the deals aawy from my line.", "c_reverse", "c_keep"),
])
def test_words_that_name_what_is_withdrawn_refused_or_asked(text: str, present: str, absent: str) -> None:
    found = intent_model.concepts(intent_model.normalize(text))
    assert present in found and absent not in found, (text, found)


@pytest.mark.parametrize("text", ["Fine.", "Okay thanks.", "Está bien.", "ok", "Sure, got it.", "Yes.", "Sí, claro.",
                                  "Hello Privacy Team,\n\nFine.\n\nAccount number 5456-538-011\n\nThanks,\nLinda Thomas"])
def test_an_opt_in_answer_to_a_bare_yes_or_ok_goes_to_a_person_however_sure(text: str) -> None:
    model = _ByWords([], {"opt_in": 0.97, "ambiguous": 0.03}).real  # every text reads as a sure opt-in
    result = model.classify(text, text)
    assert result.intent is Intent.AMBIGUOUS and "model:intent opt_in_doubted" in result.reasons
    named = "Fine, use my data for offers."
    assert model.classify("", named).intent is Intent.OPT_IN


@pytest.mark.parametrize(("text", "other"), [
    ("Also, quiten la garantía extendida de mi pedido.", True),
    ("Quick question, when does my contract end?", True),
    ("Also, do you buy back old phones?", True),
    ("Also, stop using my data.", False),  # marketing's own words: not another topic
    ("Also, unsubscribe me.", False),  # a stop naming nothing else
    ("Please stop the promos.", False),  # no marker of another topic
])
def test_a_part_that_turns_to_another_topic(text: str, other: bool) -> None:
    assert intent_model._turns_to_another_topic(intent_model.normalize(text)) is other


def test_a_support_request_after_also_does_not_hold_an_opt_in_or_an_opt_out() -> None:
    stop = {"opt_out": 0.9, "ambiguous": 0.1}
    model = _ByWords([("cuenta. also", {"opt_in": 0.95, "opt_out": 0.05}), ("garantia", stop), ("publicidad", stop)],
                     {"opt_in": 0.95, "opt_out": 0.05}).real
    text = "Activen las promociones en mi cuenta. Also, quiten la garantía extendida de mi pedido."
    assert model.classify("", text).intent is Intent.OPT_IN
    asked = "Activen las promociones en mi cuenta. Also, quiten mis datos de la publicidad."
    assert model.classify("", asked).intent is Intent.AMBIGUOUS  # a stop request about marketing, said now
    out = _ByWords([("out. ", {"opt_out": 0.95, "ambiguous": 0.05}), ("contract", {"ambiguous": 0.9, "opt_out": 0.1})],
                   {"opt_out": 0.95, "ambiguous": 0.05}).real
    assert out.classify("", "Opt me out. Quick question, when does my contract end?").intent is Intent.OPT_OUT
    assert out.classify("", "Opt me out. Or would that change my contract?").intent is Intent.AMBIGUOUS


@pytest.mark.parametrize(("text", "concept"), [
    ("Quiero que mi información sea privada.", "c_stop"),
    ("Keep my data private and out of your marketing.", "c_stop"),
])
def test_data_kept_private_is_restricted(text: str, concept: str) -> None:
    assert concept in intent_model.concepts(intent_model.normalize(text))
    assert "c_stop" not in intent_model.concepts(intent_model.normalize("I read your privacy notice."))


def test_an_answer_changed_to_yes_is_more_than_a_bare_yes() -> None:
    model = _ByWords([], {"opt_in": 0.85, "ambiguous": 0.15}).real
    assert model.classify("", "Sí.").intent is Intent.AMBIGUOUS
    assert model.classify("", "Cambien mi respuesta a sí.").intent is Intent.OPT_IN


def test_a_question_that_complains_is_no_doubt_beside_an_opt_out() -> None:
    rules = [("info? i said", {"opt_out": 0.95, "ambiguous": 0.05}), ("why", {"ambiguous": 0.9, "opt_out": 0.1})]
    model = _ByWords(rules, {"opt_out": 0.95, "ambiguous": 0.05}).real
    assert model.classify("", "Why are you still using my info? I said opt out.").intent is Intent.OPT_OUT
    doubt = _ByWords([("me out. what", {"opt_out": 0.95, "ambiguous": 0.05}), ("what", {"ambiguous": 0.9, "opt_out": 0.1})],
                     {"opt_out": 0.95, "ambiguous": 0.05}).real
    assert doubt.classify("", "Opt me out. What happens to my discount then?").intent is Intent.AMBIGUOUS


def test_a_bare_stop_word_under_a_replys_subject_is_read_alone() -> None:
    rules = [("exclusive", {"ambiguous": 0.6, "opt_out": 0.4})]
    model = _ByWords(rules, {"opt_out": 0.9, "ambiguous": 0.1}).real
    result = model.classify("Re: Exclusive offers just for you, Patricia!", "unsubscribe")
    assert result.intent is Intent.OPT_OUT and "model:intent read_without_the_subject" in result.reasons
    # a subject the customer wrote is read with the body; a longer body or a "yes" is not a bare request
    assert model.classify("Exclusive offers just for you", "unsubscribe").intent is Intent.AMBIGUOUS
    for body in ("yes", "please tell me what exclusive means"):
        assert model.classify("RE: Exclusive offers", body).intent is Intent.AMBIGUOUS, body


def test_an_offer_of_what_else_may_be_needed_is_no_doubt_beside_a_request() -> None:
    rules = [("marketing. ", {"opt_out": 0.95, "ambiguous": 0.05}), ("need", {"ambiguous": 0.9, "opt_out": 0.1})]
    model = _ByWords(rules, {"opt_out": 0.95, "ambiguous": 0.05}).real
    for text in ("Please stop using our account for marketing. If you need the POA paperwork from me, let me know.",
                 "No usen mis datos para marketing. Si necesitan el poder notarial, avísenme."):
        assert model.classify("", text).intent is Intent.OPT_OUT, text
    assert model.classify("", "Please stop using our account for marketing. I need to think about it.").intent \
        is Intent.AMBIGUOUS


@pytest.mark.parametrize(("text", "told"), [
    ("my wife replied stop on my phone as a joke", True),
    ("Mi hijo contestó BAJA desde mi cel sin preguntarme", True),
    ("Last week I emailed and said opt me out", True),
    ("the salesperson had me sign a form last month", True),
    ("having discussed it with my son, I have no objection to your using said information", False),
    ("Stop using my data, I said", False),
])
def test_a_word_replied_or_an_email_reported_tells_the_past(text: str, told: bool) -> None:
    from optout_daemon.pipeline.classify import tells_the_past  # noqa: PLC0415
    assert tells_the_past(intent_model.normalize(text)) is told


def test_a_clause_that_only_says_not_to_remove_the_sender_is_no_doubt_of_an_opt_in() -> None:
    rules = [("me out. i want", {"opt_in": 0.87, "ambiguous": 0.13}), ("me out", {"opt_out": 0.8, "ambiguous": 0.2}),
             ("want", {"opt_in": 0.95, "ambiguous": 0.05})]
    model = _ByWords(rules, {"opt_in": 0.95, "ambiguous": 0.05}).real
    assert model.classify("", "Do NOT opt me out. I want the promos.").intent is Intent.OPT_IN
    assert model.classify("", "Opt me out. I want the promos.").intent is Intent.AMBIGUOUS


def test_a_question_about_what_the_request_would_do_goes_to_a_person() -> None:
    # the model reads the question below the conflict score: it is still a question about the request
    rules = [("out. ", {"opt_out": 0.95, "ambiguous": 0.05}), ("publicidad. ", {"opt_out": 0.95, "ambiguous": 0.05}),
             ("contract", {"ambiguous": 0.6, "opt_out": 0.4}), ("plan", {"ambiguous": 0.6, "opt_out": 0.4})]
    model = _ByWords(rules, {"opt_out": 0.95, "ambiguous": 0.05}).real
    for text in ("Opt me out. Or would that affect my contract?", "Sáquenme de la publicidad. ¿Eso afecta mi plan?"):
        result = model.classify("", text)
        assert result.intent is Intent.AMBIGUOUS and "model:intent clauses_conflict" in result.reasons, text
    assert model.classify("", "Opt me out. My contract ends in May.").intent is Intent.OPT_OUT
    plain = _ByWords([], {"opt_out": 0.95, "ambiguous": 0.05}).real
    _assert_for_a_person(plain, ("Would opting out stop the bill reminders too?",
                                 "Wslud opting out stop the bill reminders too?"), "opt_out_only_asks")
    assert plain.classify("", "Stop the bill reminders too, and opt me out.").intent is Intent.OPT_OUT


def test_something_done_without_consent_is_a_complaint_not_a_refusal() -> None:
    model = _ByWords([], {"opt_out": 0.95, "ambiguous": 0.05}).real
    _assert_for_a_person(model, ("A device was financed on my account without my consent.",
                                 "Me activaron un seguro sin mi autorización."), "opt_out_a_complaint")
    assert model.classify("", "Someone opened a line without my permission. Stop using my data for ads.").intent \
        is Intent.OPT_OUT


def test_a_long_letter_is_read_by_its_request_only_when_the_request_is_about_this_matter() -> None:
    letter = ("Buenas, le pido de favor que paren el envío de los cheques de reembolso a mi dirección vieja. Me cambié "
              "hace seis meses y ya actualicé la dirección en la página, pero el reembolso de $48 lo mandaron a la casa "
              "anterior y los nuevos dueños no me lo quieren dar. ")
    rules = [("buenas, le pido", {"unrelated": 1.0}), ("emitir", {"opt_in": 0.6, "unrelated": 0.4}),
             ("ofertas", {"opt_in": 0.9, "unrelated": 0.1})]
    model = _ByWords(rules, {"unrelated": 0.99, "opt_in": 0.01}).real
    refund = model.classify("", letter + "¿Me lo pueden volver a emitir a mi dirección nueva?")
    assert refund.intent is not Intent.OPT_IN and "model:intent focused" not in refund.reasons
    offers = model.classify("", letter + "¿Me pueden volver a mandar las ofertas?")
    assert "model:intent focused" in offers.reasons and offers.intent is Intent.OPT_IN


@pytest.mark.parametrize(("text", "absent"), [
    ("Second thing, stop using my info", "c_cond"),
    ("the second said it was my router", "c_cond"),
    ("Javier (el nieto)", "c_refuse"),
    ("Greenleaf Family Dental", "c_objection"),
    ("el internet anda lento, a ver si lo arreglan", "c_cond"),
    ("entonces por si acaso", "c_cond"),
    ("entonces por si acaso", "c_yes"),
    ("Por medio de la presente me permito solicitarles que no usen mis datos", "c_consent"),
])
def test_words_that_look_like_a_lexicon_word_mean_nothing_here(text: str, absent: str) -> None:
    assert absent not in intent_model.concepts(intent_model.normalize(text))


@pytest.mark.parametrize(("text", "concept"), [
    ("Que dejéis de mandarme publicidad. Ya.", "c_stop"),
    ("Os pido que no uséis sus datos para publicidad", "c_nuse"),
    ("Quitadme de las listas de publicidad", "c_remove"),
    ("Solicito que se abstengan de utilizar la información de mi cuenta", "c_stop"),
    ("no le permito usar mis datos", "c_nconsent"),
])
def test_spains_vosotros_and_abstaining_are_read(text: str, concept: str) -> None:
    assert concept in intent_model.concepts(intent_model.normalize(text))


def test_who_writes_for_whom_asks_nothing() -> None:
    for text in ("I'm typing this for my grandmother because she doesn't do email",
                 "Hola, le escribo por mi abuela porque ella no sabe usar el email"):
        assert intent_model._writes_for_someone(intent_model.normalize(text)), text
    for text in ("I'm writing for my mother, please opt her out", "Escribo por mi papá: no usen sus datos para publicidad"):
        assert not intent_model._writes_for_someone(intent_model.normalize(text)), text
    rules = [("email. she wants", {"opt_in": 0.85, "ambiguous": 0.15}), ("email", {"opt_out": 0.8, "ambiguous": 0.2})]
    model = _ByWords(rules, {"opt_in": 0.95, "ambiguous": 0.05}).real
    text = "I'm typing this for my grandmother because she doesn't do email. She wants the deals, use her info."
    assert model.classify("", text).intent is Intent.OPT_IN


def test_leaving_the_do_not_market_list_named_just_before_is_no_opt_out_beside_an_opt_in(model) -> None:  # noqa: ANN001
    # "sáquenme" asks to leave the list the sentence before names: the way back in, not a stop request
    named = classify(model, "", "En la tienda me dijeron que para la promo tengo que salirme de la lista de no publicidad. "
                                "Pues sáquenme. Autorizo que usen mis datos para ofertas.")
    assert named.intent is Intent.OPT_IN and named.confidence >= 0.8 and "model:intent clauses_conflict" not in named.reasons
    # without the list, the same removal beside the consent is a stop request: a person reads it
    bare = classify(model, "", "Me llegan muchos mensajes de ventas. Pues sáquenme. Autorizo que usen mis datos para ofertas.")
    assert bare.intent is not Intent.OPT_IN


@pytest.mark.parametrize(("body", "leaves"), [
    ("she is on your do-not-market list and she wants off", True),
    ("I'm on your do-not-market list. Please take me off it.", True),
    ("Estoy en su lista de no publicidad y quiero salir de ella.", True),
    ("Estoy en la lista de no contactar, sáquenme de esa lista.", True),
    ("Hello,\n\nI'm on your do-not-market list. Please take me off it.\n\nThanks, Ann", True),  # after a greeting
    # on the list and still getting mail: the removal asked is from the marketing, an opt-out
    ("I'm on your do-not-market list and you still send me ads. Stop it.", False),
    ("I'm on your do-not-market list and you still send me ads. Take me off your mailing list.", False),
    ("Put me on your do-not-market list.", False),
])
def test_an_opt_out_read_where_the_sender_asks_off_the_do_not_market_list_goes_to_a_person(model, body: str,  # noqa: ANN001
                                                                                             leaves: bool) -> None:
    result = classify(model, "", body)
    assert ("model:intent opt_out_leaves_the_list" in result.reasons) is leaves, result
    if leaves:
        assert result.intent is not Intent.OPT_OUT
    else:
        assert result.intent is Intent.OPT_OUT


def test_an_opt_out_undone_in_spanish_is_the_state_and_an_opt_out_asked_for_stays_a_request() -> None:
    # "quiten la baja", "cancelen la baja", "lo de la baja": the opt-out as a thing, set aside
    for text in ("ya pueden volver a usar mis datos para ofertas, quiten la baja por favor", "cancelen la baja de promociones",
                 "olviden la baja que pedí"):
        words = intent_model.concepts(intent_model.normalize(text))
        assert "c_reverse" in words and "c_outstate" in words and "c_remove" not in words, text
    assert intent_model.concepts(intent_model.normalize("me arrepentí de lo de la baja")) == ["c_outstate"]
    # ... and so is "la baja" something is said of, in a question about it
    words = intent_model.concepts(intent_model.normalize("¿La baja es permanente?"))
    assert "c_outstate" in words and "c_remove" not in words
    # asking for the baja is a request
    for text in ("solicito la baja de mis datos", "quiero la baja", "hagan la baja ya"):
        assert "c_remove" in intent_model.concepts(intent_model.normalize(text)), text


def test_the_do_not_send_list_contact_offers_and_a_rule_as_provided() -> None:
    assert "dnmlist" in intent_model.normalize("quítenme de la lista de no mandar promociones, sí quiero ofertas")
    assert "dnmlist" in intent_model.normalize("put me on the do-not-send list")
    assert "dnmlist" not in intent_model.normalize("Don't send me offers anymore.")  # no list named: a refusal
    # an offer to be reached closes a letter: no "yes", no want, no condition
    for text in ("si necesitan hablar con ella, yo estoy con ella en las tardes", "Si tienen preguntas llámenme.",
                 "Best contact is this email or 555-555-0123.", "You can reach me at 555-0123."):
        assert intent_model.concepts(intent_model.normalize(text)) == [], text
    # "as provided under 47 C.F.R." is what a rule sets out, not "provided (that)"
    assert "c_cond" not in intent_model.concepts(intent_model.normalize("as provided under 47 C.F.R. 64.2007 et seq."))
    # "Uno my opt-out please": undo, typed without its d (the Spanish "uno" stays)
    assert intent_model.normalize("Uno my opt-out please.") == "undo my opt-out please."
    assert intent_model.normalize("uno de mis hijos") == "uno de mis hijos"
    assert "c_cond" in intent_model.concepts(intent_model.normalize("provided that I keep my discount, opt me out"))
    # "she only has the one line" tells the account; "only use it for billing" and "only of texts" limit the request
    assert "c_cond" not in intent_model.concepts(intent_model.normalize("She only has the one line and wants the offers."))
    for text in ("Only use my info for billing.", "Opt me out only of texts.", "Solo quiero que paren los mensajes."):
        assert "c_cond" in intent_model.concepts(intent_model.normalize(text)), text


def test_stories_told_with_yesterday_a_request_sent_and_no_opt_out_on_file() -> None:
    from optout_daemon.pipeline.classify import tells_the_past  # noqa: PLC0415

    for text in ("i called in march and was told there was no opt-out on file",
                 "hello, my wife say she send you request yesterday to stop using our information for offers",
                 "she sent you a request to stop using our info",
                 "had you guys opt me out last year after all that data breach news, i was pretty spooked",
                 "i simply could not deal with the calls at that time, and your representative was very kind about it"):
        assert tells_the_past(text), text
    # a request asked in the past subjunctive is told ("pedí que no usaran mis datos") ...
    assert tells_the_past("mi hijo pidio que no nos mandaran promociones, el no es el titular")
    # ... but a part after it may ask now
    for text in ("segun lo que pierda: no autorice que usaran mis datos para promociones, dejen de hacerlo",
                 "les pedi que me dieran de baja, y nunca lo hicieron, por favor haganlo"):
        assert not tells_the_past(text), text
    # this request, sent now, and a request after the story ask now
    for text in ("i send you this request to stop using my data", "last week i sent a request to stop, please opt me out now",
                 "could you opt me out, i got a letter last year"):
        assert not tells_the_past(text), text


def test_a_mind_changed_about_opting_out_undoes_it() -> None:
    assert intent_model.normalize("i changed my mind about opting out go ahead and use my info").startswith("i now undo my opt-out")
    words = intent_model.concepts(intent_model.normalize("I changed my mind about opting in. Stop the offers."))
    assert words[:2] == ["c_stop", "c_consent"]


def test_a_question_about_where_the_account_stands_goes_to_a_person() -> None:
    model = _ByWords([], {"opt_in": 0.95, "ambiguous": 0.05}).real  # the model: opt_in, sure of it
    _assert_for_a_person(model, ("Dear Northwind,\nPlease check whether I'm opted in.\nIt's the account for 1-492-888-1856.",
                                 "Verifiquen si sigo inscrito, por favor."), "asks_its_status")
    # a change asked for beside the question is a request
    for text in ("Can you confirm if my line is still opted out? If not, opt me out.",
                 "Check whether I'm opted in, and if not, I consent to the offers."):
        assert not intent_model._asks_its_status(intent_model.features(text)), text


def test_a_condition_the_writer_draws_inside_a_story_told_is_one() -> None:
    # what a salesman once said, then the writer's own "si ... entonces no quiero"
    letter = ("mire yo estoy dispuesto a darme de baja de las ofertas pero un vendedor me dijo una vez que ese descuento "
              "dependia de estar inscrito en las promociones si darme de baja me quita el descuento entonces no quiero "
              "darme de baja")
    assert intent_model._sets_a_condition(letter, intent_model.features(letter))
    # a consequence told is no condition on the request after it
    told = "The rep said if I opt out then I lose the discount. I do not care, opt me out."
    assert not intent_model._sets_a_condition(told, intent_model.features(told))
    # "si" before an infinitive carrying its pronoun is "if"; "Sí, darme de baja" says yes
    assert "sicond darme" in intent_model.normalize("si darme de baja me quita el descuento")
    assert "sicond" not in intent_model.normalize("Si, darme de baja por favor.")


def test_what_was_said_set_aside_is_no_consent_withdrawn() -> None:
    for text in ("Así que retiro lo que dije: podéis usar mis datos para mandarme ofertas.",
                 "I take back what I said, you can use my info for offers."):
        words = intent_model.concepts(intent_model.normalize(text))
        assert words[0] == "c_void" and "c_stop" not in words, text
    assert intent_model.concepts(intent_model.normalize("Retiro mi consentimiento."))[:2] == ["c_stop", "c_consent"]


def test_a_stop_said_now_in_the_subject_alone_is_read_once() -> None:
    # the whole subject reads as an opt-in (the story), what is said now in it as an opt-out: written in the subject or
    # in the body, the same answer (the subject is not read twice beside what is said now)
    model = _ByWords([("previously", {"opt_in": 0.95, "opt_out": 0.05})], {"opt_out": 0.95, "opt_in": 0.05}).real
    request = "I previously opted in. Please opt me out now."
    assert model.classify("", request).intent is Intent.OPT_OUT
    assert model.classify(request, "").intent is Intent.OPT_OUT
