"""classify: what the sender asks for -> Classification.

Two classifiers share one interface, `.classify(subject, text) -> Classification`:
- the trained spaCy model shipped in models/intent (optout_daemon.pipeline.intent_model), and
- KeywordClassifier, the documented keyword baseline: the point of comparison for the model, and
  the fallback when `classifier.kind = "keywords"`.

The keyword baseline, in full: a message is `opt_out` when its subject or new text contains an
opt-out phrase (English or Spanish) not preceded by a negation; `opt_in` when it contains an
opt-in phrase and no opt-out phrase; `ambiguous` when it contains both, or a negated opt-out
phrase, or a privacy/consent word without a request; `unrelated` otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Protocol

from optout_daemon.pipeline.types import Classification, Intent, ParsedMessage

MAX_MODEL_CHARS = 2000
_READ_HALF = MAX_MODEL_CHARS // 2  # of a longer text, within_reading keeps this much of each end, beyond_reading the rest
REVERSES_A_RESTRICTION = "model:intent reverses_a_restriction"  # a reason the intent model gives (intent_model.py)
_BLANKS = re.compile(r"[ \t]+")
_LAST_WORD, _FIRST_WORD = re.compile(r"\S+\Z"), re.compile(r"\A\S+")

_OPT_OUT = [
    r"opt(ing)?[- ]?(me )?out", r"unsubscribe", r"stop (using|sharing|selling|sending|marketing|contacting|the (ads|emails|promos))",
    r"do not (use|share|sell|contact|market)", r"don'?t (use|share|sell|contact|market)", r"remove me",
    r"take me off", r"no more (marketing|ads|promos|promotions|offers|emails)", r"withdraw (my )?consent",
    r"revoke (my )?consent", r"deny (my )?consent", r"i do not consent", r"i don'?t consent",
    r"stop$", r"^stop\b", r"cancel (my )?(subscription to|marketing)",
    r"darme de baja", r"d[eé]nme de baja", r"dar de baja", r"baja", r"no (usen|utilicen|compartan) mis datos",
    r"dejen de (usar|utilizar|enviar|compartir|mandar)", r"no quiero (recibir|publicidad|promociones|que usen)",
    r"retiro mi consentimiento", r"no autorizo", r"no doy (mi )?consentimiento", r"eliminen mis datos",
    r"no me (env[ií]en|manden)", r"basta de (publicidad|promociones)",
]
_OPT_IN = [
    r"opt(ing)?[- ]?(me )?(back )?in\b", r"(re)?subscribe me", r"i (now )?consent", r"you (may|can) use my",
    r"i (would like|want) to (receive|get) (offers|promotions|marketing|deals)", r"sign me (back )?up",
    r"give (my )?consent", r"grant (my )?consent", r"allow (you )?to use my", r"restore (my )?consent",
    r"acepto", r"doy (mi )?consentimiento", r"autorizo", r"pueden usar mis datos", r"quiero recibir (ofertas|promociones)",
    r"suscr[ií]banme", r"vuelvan a enviarme",
]
_NEGATION = re.compile(r"(?:\b(?:not|never|no|nunca|dont)|n[’']t)\b[^.!?\n]{0,25}$", re.I)  # "don't" too
_TOPIC = re.compile(r"\b(cpni|privacy|privacidad|consent|consentimiento|marketing|publicidad|datos|data)\b", re.I)

_OUT = [re.compile(p, re.I | re.M) for p in _OPT_OUT]
# "opt my mother out", "opt me and my wife out": the keyword baseline only knows "opt (me) out"; the
# safety net also looks for "opt ... out" with up to five words between.
# It also looks for a sentence that is only a stop word after another sentence ("How long is my
# contract? Stop please."): the baseline reads "stop" alone only at the start or end of a line.
# A refusal given as the answer to the notice is an opt-out too: a sentence that is only "Decline." or
# "No thanks." after another one, and "my answer is no" / "mi respuesta (al aviso) es que no".
_GUARD_OUT = [re.compile(r"\bopt\s+(?!in\b)(?:[\w']+\s+){1,5}?out\b", re.I),
              re.compile(r"[.!?]\s+(stop|unsubscribe|remove|opt out|baja|alto|decline|declined|declino|rechazo|no thanks|no gracias)"
                         r"(\s+(please|pls|now|por favor))?\s*([.!]|$)", re.I | re.M),
              re.compile(r"\b(my (answer|response|reply)|mi respuesta)\b[^.!?\n]{0,30}\b(is|es)( que)? no\b", re.I),
              # the consent given earlier set aside, or the opted-out state asked for: "Please undo that opt-in", "cancel my
              # opt-in", "I want to be opted out like I was before"
              re.compile(r"\b(undo|cancel|revoke|withdraw|reverse|retract|rescind|void|delete)\s+(my|that|the|this|our)\s+"
                         r"(?:[\w']+\s+){0,2}?opt[- ]?in\b|\b(want|wish|like|need)\s+(?:[\w']+\s+){0,2}?to\s+be\s+(opted|taken|kept)\s+out\b",
                         re.I),
              # a sentence that is only consent refused: "Not authorized.", "No acepto.", "I do not authorize", "no lo autorizo"
              re.compile(r"(?:^|[.!?:]\s+)(?:i\s+|yo\s+)?(?:do\s+not|don'?t|not|no|never|nunca)\s+(?:lo\s+|los\s+)?"
                         r"(?:authori[sz]ed?|authori[sz]ation|consent(?:ed)?|approved?|agreed?|permission|autorizo|autorizado|"
                         r"autorizada|acepto|aceptado|consiento|doy permiso)"
                         r"(?:\s+(?:please|thanks|thank you|gracias))?\s*(?:[.!]|$)", re.I | re.M),
              # "que no usen mi CPNI", "no compartan nuestra información" (the baseline knows "mis datos" only)
              re.compile(r"\bno (usen|utilicen|compartan|vendan) (mis?|nuestr[oa]s?) (datos|cpni|informaci[oó]n)", re.I),
              # a stop verb with marketing as its object: "... cant log in block marketing on my account"
              re.compile(r"\b(block|restrict|limit|halt|end|quit|bloqueen|bloquear|restrinjan|limiten)\s+"
                         r"(all\s+|the\s+|any\s+|toda\s+|la\s+|las\s+)?(marketing|ads|advertising|promos|promotions|"
                         r"publicidad|promociones|mercadeo)\b", re.I),
              # something of the sender's taken out of the marketing: "Please remove my email address,
              # jtorres77@example.com, from your promotional mailings" (a dot inside an address ends no sentence)
              re.compile(r"\b(remove|delete|take|drop|quiten|saquen|borren|eliminen)\b(?:[^.!?\n]|\.(?=\w)){0,80}?"
                         r"\b(from|off|of|de|del)\s+(?:[\w']+\s+){0,3}?(marketing|promotional|promotions?|promos?|advertising|"
                         r"mailings?|mailing lists?|publicidad|promociones|ofertas|mercadeo)\b", re.I)]
_IN = [re.compile(p, re.I | re.M) for p in _OPT_IN]


class Classifier(Protocol):
    def classify(self, subject: str, text: str) -> Classification: ...


def model_input(subject: str, new_text: str) -> str:
    """The text a classifier sees: subject and the sender's own words, whitespace folded."""
    text = f"{subject.strip()}\n{new_text.strip()}".strip()
    text = unicodedata.normalize("NFKC", text)
    if "  " in text or "\t" in text:  # (most text has neither: the pattern would change nothing)
        text = _BLANKS.sub(" ", text)
    return within_reading(text)


def within_reading(text: str) -> str:
    """What the classifiers read of a text: all of it up to MAX_MODEL_CHARS; of a longer one its beginning and its
    end, half each, cut between words: a long letter's request often closes it ("... Please opt me out of all
    marketing."), and a page about a bereavement before it must not hide it."""
    if len(text) <= MAX_MODEL_CHARS:
        return text
    head, tail = text[:_READ_HALF], text[-_READ_HALF:]
    # (the word each cut may halve is left out; a text of one long word keeps its halves)
    return f"{_LAST_WORD.sub('', head) or head}\n{_FIRST_WORD.sub('', tail) or tail}"


def beyond_reading(text: str) -> str:
    """What within_reading leaves out of a long text: its middle (with the words the cuts halve), else ""."""
    return text[_READ_HALF - 40:-_READ_HALF + 40] if len(text) > MAX_MODEL_CHARS else ""


# Besides A-Z, re.I takes these four for ASCII letters (a test finds them over all of Unicode): in
# lower-cased text without them, a pattern written in lower case matches with re.I where it matches without.
ASCII_CASE_TWINS = re.compile("[\u0130\u0131\u017f\u212a]")  # İ ı ſ and the Kelvin sign


def lowering_is_ignoring_case(text: str) -> bool:
    """True when, for patterns written in lower case, lower-casing `text` does what re.I would."""
    return text.isascii() or not ASCII_CASE_TWINS.search(text)


def _any_of(patterns: list[re.Pattern[str]]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """One pattern that matches somewhere exactly when one of patterns does: (for lower-cased text
    without ASCII_CASE_TWINS, for any text). The first drops re.I, which makes a long alternation five
    times slower and, for such text and patterns written in lower case, changes nothing."""
    assert len({p.flags for p in patterns}) == 1 and all(p.pattern == p.pattern.lower() for p in patterns)
    joined = "|".join(f"(?:{p.pattern})" for p in patterns)
    return re.compile(joined, patterns[0].flags & ~re.I), re.compile(joined, patterns[0].flags)


_OUT_ANY, _IN_ANY = _any_of(_OUT), _any_of(_IN)


def _matches(patterns: list[re.Pattern[str]], text: str,
             screen: tuple[re.Pattern[str], re.Pattern[str]] | None = None) -> tuple[bool, bool]:
    """(a plain match, a negated match) of any pattern in lower-cased text; `screen` is _any_of(patterns)."""
    plain = negated = False
    if screen is not None and screen[0 if lowering_is_ignoring_case(text) else 1].search(text) is None:
        return plain, negated  # most text holds none of the phrases: one pass instead of one per pattern
    for pattern in patterns:
        for m in pattern.finditer(text):
            # (a match that starts at the end of a sentence, ". Remove.", is no longer in its negation)
            if _NEGATION.search(text[max(0, m.start() - 40):m.start() + (m.group()[:1] in ".!?")]):
                negated = True
            else:
                plain = True
    return plain, negated


class KeywordClassifier:
    name = "keywords"

    def classify(self, subject: str, text: str) -> Classification:
        body = model_input(subject, text).lower()
        out, out_negated = _matches(_OUT, body, _OUT_ANY)
        into, _ = _matches(_IN, body, _IN_ANY)
        if out and not into:
            intent, reason = Intent.OPT_OUT, "keyword_opt_out"
        elif into and not out:
            intent, reason = Intent.OPT_IN, "keyword_opt_in"
        elif out and into:
            intent, reason = Intent.AMBIGUOUS, "keyword_both"
        elif out_negated:
            intent, reason = Intent.AMBIGUOUS, "keyword_negated_opt_out"
        elif _TOPIC.search(body):
            intent, reason = Intent.AMBIGUOUS, "keyword_topic_only"
        else:
            intent, reason = Intent.UNRELATED, "keyword_none"
        scores = {i.value: 0.0 for i in (Intent.OPT_OUT, Intent.OPT_IN, Intent.AMBIGUOUS, Intent.UNRELATED)}
        scores[intent.value] = 1.0
        return Classification(intent=intent, confidence=1.0, scores=scores, classifier=self.name,
                              reasons=(reason,))


# A clause that tells what happened before: a past tense or a time ago, and no word that asks for
# something now ("please", "want", "quiero", "por favor", an imperative...). Conservative on purpose:
# a told clause can stop counting against the request made beside it (intent_model's clause checks,
# and the safety net below for an opt-in answer).
_TOLD = re.compile(
    r"\b(?:opted|unsubscribed|e-?mailed|wrote|sent|asked|requested|told|called|phoned|signed|clicked|replied|"
    # ("said information", "said account": the legal adjective tells nothing)
    r"chose|decided|submitted|agreed|texted|typed|answered|said(?! (?:information|info|data|account|records|usage|use|company|notice|letter|"
    r"request|services?|lines?)\b)|did|had|was|were|got|went|tried|ago|previously|already|"
    r"took|taken|removed|dropped|kicked|switched|helped|from before|de antes|"
    r"last (?:year|month|week|spring|summer|fall|autumn|winter|time|night|weekend|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)|yesterday|back in|a while back|in the past|at that time|at the time|en ese momento|"
    r"en aquel entonces|"
    r"me di|se dio|nos dimos|pedi|pidio|pidieron|solicite|escribi|escribio|les dije|dije|dijo|hice|hizo|"
    r"this morning|earlier today|esta manana|hoy temprano|sin querer|por error|por equivocacion|by mistake|by accident|"
    r"accidentally|respondi|respondimos|respondio|respondieron|conteste|contestamos|contesto|contestaron|escribieron|"
    r"received|recibi|recibimos|(?:me|nos) (?:ha |han )?(?:llego|llegado)|(?:me|nos|lo|la) (?:registro|inscribio|anoto|apunto|suscribio)|"
    r"me exclui|se excluyo|me borre|me inscribi|me suscribi|opte|optamos|decidi|decidio|habia|habiamos|"
    r"hace (?:un|una|unos|unas|0|dos|tres|cuatro|varios|varias|mucho|poco|tiempo|meses|anos|semanas|dias)|"
    r"(?:el|la) (?:ano|mes|semana) pasad[oa]|(?:el|la) pasad[oa] (?:ano|mes|semana)|ayer|anteriormente|ya me|ya nos|(?:me|nos|le|les|lo|la) (?:dio|dieron))\b")
_ASKS_NOW = re.compile(
    # ("we did not want any marketing" tells what was wanted; "she told your store to opt me out" what was asked)
    # ("like" after "would", "I'd", "I", "we": not "I opted out like 2 yrs ago")
    r"\b(?:please|pls|plz|kindly|(?<!did not )(?<!did )wants?|(?:(?<=would )|(?<='d )|(?<=\bid )|(?<=\bi )|(?<=\bwe ))like|"
    # ("I simply could not deal with the calls at that time": what the writer could not do then)
    r"need|needs|can|could(?! not\b)|will|would|should|"
    # ("the rep put me on your do-not-market list": what someone did; "please put me on it" asks)
    r"must|(?<!to )let|make|(?<!rep )(?<!agent )(?<!someone )(?<!somebody )(?<!he )(?<!she )(?<!they )(?<!who )(?<!guy )"
    r"(?<!lady )(?<!husband )(?<!wife )(?<!son )(?<!daughter )(?<!store )(?<!employee )put|take|add|keep|"
    # ("opt" after a determiner is the noun: "that opt-out from before is void", "was told there was no opt-out on
    # file"; "helped me opt out" tells)
    r"(?<!had me )(?<!made me )sign|(?<!to )(?<!the )(?<!an )(?<!that )(?<!this )(?<!my )(?<!your )(?<!no )(?<!any )"
    r"(?<!helped me )(?<!helped us )(?<!helped him )(?<!helped her )opt|"
    r"stop|quiere|quieren|remove|do not|don[’']?t|quit|cancel|undo|reinstate|restore|"
    r"quiero|queremos|quisiera|deseo|deseamos|necesito|por favor|porfa|favor|pueden|puede|podrian|podria|"
    r"pido|pedimos|solicito|dejen|paren|no me(?! llega| llego| [a-z]*(?:aran|ieran|aban|ian)\b)|"
    r"no nos(?! [a-z]*(?:aran|ieran|aban|ian)\b)|no usen|den|denme|sigan|vuelvan|incluyan|"
    r"excluyan|quiten|saquen|borren|pongan|agreguen|manden|reactiven|activen|usen|utilicen|quito|retiro|revoco|"
    r"autorizo|doy|acepto|niego|prohibo|exijo|sigo|seguimos|(?<!sin )querer|(?<!que )ya no|"
    # "opt me out", "take me off" ask now; "opted me out", "took me off" tell what someone did
    r"(?<!to opt )(?<!to take )(?<!to put )(?<!helped )(?<!opted )(?<!signed )(?<!switched )(?<!took )(?<!taken )(?<!removed )(?<!dropped )(?<!kicked )me (?:off|out|in|back)|"
    # a Spanish request to "ustedes" ("anulen el bloqueo que pedí"), and the like in the present, but not a
    # past subjunctive or imperfect ("pidiendo que ya no usaran nuestra información", "nos mandaban", "les dije
    # que sí podían usar mi información"), nor the present of a verb in -iar ("me envían"), which asks nothing
    # ... nor a word that is no verb ("alguien de la oficina pidió ...", "también")
    # ... nor an English word ("the gentleman at your store told me")
    # ... nor what arrives or does not ("ahora no le llegan las ofertas")
    r"(?!(?:alguien|quien|tambien|orden|origen|imagen|examen|resumen|volumen|joven|margen|almacen|llegan|"
    r"gentleman|woman|taken|given|written|chosen|gotten|often|seven|eleven|children|kitchen|garden|listen|between|"
    r"broken|spoken|stolen|happen|human|began|screen|green|dozen|token|women|karen|susan|megan|logan|jordan|nathan|"
    r"brian|bryan|morgan|helen|allen|warren|steven|stephen|ethan|dylan|urban|veteran|american|japan|michigan|"
    r"forgiven|hidden|driven|fallen|frozen|eaten|beaten|sudden|golden|citizen|oxygen|queen|clean|mean|ocean|"
    r"[a-z]*teen)\b|"
    r"[a-z]*(?:aran|ieran|aban|ian|asen|iesen)\b)[a-z]{3,}(?:en|an))\b")


STORY_PARTS = re.compile(r"[.!?;\n]+|\b(?:but|pero|however|sin embargo)\b")
# ... and for the safety net's reading of an opt-in, a comma ends a part too: "Mi mamá quiere volver a recibir las
# ofertas, ella se dio de baja por error" (the story's "baja" is no request); so for intent_model's reading of the stop
# words said beside an opt-in (_said_now)
STORY_OR_CLAUSE_PARTS = re.compile(r"[.!?;,\n]+|\b(?:but|pero|however|sin embargo)\b")
REPLY_SUBJECT = re.compile(r"\s*(?:re|fw|fwd|rv|res|aw)\s*:", re.I)  # a reply's or a forward's subject quotes another
# an opt-out named as a thing that was done or is regretted ("my son made the opt out", "me arrepentí de la baja",
# "mi hija hizo la baja"): the story, not a request (for an opt-in answer only; "quiero la baja", "I want the opt out",
# "process my opt-out" are requests and stay)
_NAMED_OPT_OUT = re.compile(r"\b(?:arrepent[ií]|arrepentimos|arrepiento|arrepentid[ao]|regret|regretted|made|did|hizo|"
                            r"hicieron|puso|pusieron|pidi[oó]|pidieron|"
                            # ... and one undone ("Reversing my earlier opt-out", "quiten la baja", "anulen mi baja")
                            r"reverse|reversing|undo|undoing|rescind|rescinding|quiten|quitar|cancelen|cancelar|anulen|anular|"
                            r"deshagan|deshacer|olviden|levanten)\s+(?:de\s+)?(?:lo\s+de\s+)?(?:the|my|your|his|her|their|our|this|"
                            r"that|la|mi|su|esa|esta|nuestra)\s+(?:(?:earlier|previous|prior|old|last)\s+)?(?:opt(?:ing)?[- ]?out|baja)\b")


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
DIGITS = re.compile(r"\d+")


_UNACCENTED_KEPT = 20_000  # characters whose folding _UNACCENTED remembers


class _Unaccented(dict):
    """str.translate's table for one character at a time: its NFKD decomposition without combining marks
    ("é" -> "e", "ﬁ" -> "fi"), worked out the first time the character is seen. NFKD decomposes each
    character on its own and only reorders combining marks, which are all dropped: translating each
    character gives what normalizing the whole string gives (a property test compares them)."""

    def __missing__(self, code: int) -> str:
        out = "".join(ch for ch in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(ch))
        if len(self) < _UNACCENTED_KEPT:  # bounded: a message of every code point cannot grow it without end
            self[code] = out
        return out


_UNACCENTED = _Unaccented()


def fold(text: str) -> str:
    """Lower case, apostrophe variants and accents folded, "n't" split off ("don't" -> "do not").

    The one folding every rule reads: intent_model.normalize() is this, then its rewrites, then every
    number "0"; the safety net reads this with the numbers made "0" too (tells_the_past's "hace 3 meses").
    """
    text = text.lower().translate(_APOSTROPHES)
    if not text.isascii():  # ASCII is already what NFKD and dropping combining marks give
        text = text.translate(_UNACCENTED)
    text = text.replace("can't", "can not").replace("cannot", "can not").replace("won't", "will not")
    return text.replace("n't", " not")


# words in quotes within a sentence ("hey! you qualify", "I replied "yes sign me up""): someone's words, quoted
QUOTED = re.compile(r"[\"\u201c][^\"\u201c\u201d\n]{1,120}[\"\u201d]")
# what a told message, box or person said, and a word replied: asked then, not now
_REPORTED_SPEECH = re.compile(r"\b(?:saying|diciendo)\b.*|\b(?:email|e-mail|message|letter|text|note|request|wrote|e-?mailed|"
                              r"called|phoned|texted)\b[^.]{0,30}?"
                              r"\basking\b[^,;]*|\b(?:replied|texted|typed|respondi|respondimos|conteste|contestamos)\s+[\"']?\w+|"
                              r"\basked (?:(?:you|them|him|her|us|me|the \w+) )?to\b.*|\b(?:dice|decia|dicen|decian) que\b.*|"
                              # "Had you guys opt me out last year": what the writer had done
                              r"\bhad (?:you|you guys|y'all|them|him|her|the \w+) (?:opt|take|put|remove|sign)\b[^.,;!?\n]*|"
                              # "my wife say she send you request yesterday to stop using our information": that request's words
                              r"\b(?:sent|send|sends|submitted|made|filed)(?: you| us| in)?(?: a| an| the| her| his| my| our)? "
                              r"(?:request|form|letter|note)\b[^.]{0,30}?\bto\b[^.,;!?\n]*|"
                              # ("told me to write, so please opt me out": what was told ends with its clause)
                              r"\btold (?:(?:you|them|him|her|us|me|(?:the|your|our|their) \w+) )?to\b[^.,;!?\n]*|"
                              r"\b(?:said|that) (?=(?:you|they) (?:could|can|may)\b)[^.]*|"
                              # "February I said opt me back in, then last week I said opt out again": what was said then
                              # ("as I said, opt me out" and "like I said" repeat it now)
                              r"(?<!as )(?<!like )\b(?:i|we|he|she|they) said (?:to )?(?=(?:opt|stop|yes|no|remove|take|put|sign|"
                              r"unsubscribe|cancel)\b)[^.,;!?\n]*|"
                              # "last week I emailed and said opt me out": what that email said
                              r"\b(?:e-?mailed|wrote|called|texted|phoned|replied)(?: you| in)? and (?:said|asked|told you)\b.*")


# a request reported in the past subjunctive ("el año pasado pedimos que no se usara nuestra información", "la empresa
# solicitó en 2021 que no se usaran nuestros datos"): the verb that asked is in the past, whatever its folded form
# reads like, unless it is a polite conditional asking now ("quisiera que no usaran mis datos")
_PAST_SUBJUNCTIVE_REQUEST = re.compile(
    r"\bque (?:no )?(?:se |nos |me |les |le |lo |la |los |las )?(?!para\b)[a-z]{2,}(?:aran|ieran|ara|iera|asen|iesen|ase|iese)\b")
_ASKS_POLITELY = frozenset("quisiera quisieramos querria querriamos gustaria preferiria prefeririamos agradeceria "
                           "agradeceriamos pediria pediriamos rogaria rogariamos solicitaria solicitariamos".split())
_LAST_WORDS = re.compile(r"(?:\S+\s+){0,3}$")
_PART_BREAK = re.compile(r"[,;:]")  # where the request a past subjunctive told ends, at the latest


def _asks_now(normalized: str) -> bool:
    """A word that asks for something now, outside what the text quotes ("I replied "yes sign me up"") and what a
    told message said ("I emailed saying opt me back in", "I ticked the box saying you could use my info")."""
    return bool(_ASKS_NOW.search(_REPORTED_SPEECH.sub(" ", QUOTED.sub(" ", normalized))))


def may_tell_the_past(normalized: str) -> bool:
    """Some part of the text may tell the past (tells_the_past): a cheap test before splitting it."""
    return bool(_TOLD.search(normalized)) or (" que " in normalized and bool(_PAST_SUBJUNCTIVE_REQUEST.search(normalized)))


def tells_the_past(normalized: str) -> bool:
    """normalized: fold()ed, every number "0" (intent_model.normalize, or the safety net's own)."""
    m = _PAST_SUBJUNCTIVE_REQUEST.search(normalized) if " que " in normalized else None
    if m is not None and not _ASKS_POLITELY.intersection(normalized[max(0, m.start() - 30):m.start()].split()):
        # the verb that asked (up to three words before "que") and what it asked were then; what comes before may still
        # ask now, and so may a part after it ("No autoricé que usaran mis datos para promociones, dejen de hacerlo")
        if _asks_now(_LAST_WORDS.sub(" ", normalized[:m.start()])):
            return False
        after = _PART_BREAK.search(normalized, m.end())
        return after is None or not _asks_now(normalized[after.end():])
    return bool(_TOLD.search(normalized)) and not _asks_now(normalized)


class GuardedClassifier:
    """The model, with the keyword baseline as a safety net for the one error that matters.

    When the keywords find a plain (not negated) opt-out request in a short message (or "opt ... out"
    with someone named between, or a sentence that is only "stop") and the model says anything else, the opt-out score is raised to
    GUARD_SCORE, so that decide sends the message to a person (policy.opt_out_floor) instead of
    ignoring it or applying something else.
    """

    GUARD_SCORE = 0.5
    GUARD_MAX_CHARS = 800  # long mail with an "unsubscribe" footer is newsletters, not requests

    def __init__(self, model: Classifier) -> None:
        self.model = model

    def classify(self, subject: str, text: str) -> Classification:
        result = self.model.classify(subject, text)
        if result.intent is Intent.OPT_OUT or len(text) > self.GUARD_MAX_CHARS or REVERSES_A_RESTRICTION in result.reasons:
            # an opt-in the model reads as undoing a restriction says "opt-out" as a noun ("delete my
            # opt-out request", "my opt-out is cancelled"): the phrase is the restriction, not a request
            return result
        opt_in = result.intent is Intent.OPT_IN
        # (beside an opt-in, the subject a reply quotes is not read: "Re: Your opt-out has been processed")
        body = model_input("" if opt_in and REPLY_SUBJECT.match(subject) else subject, text).lower()
        if opt_in:
            # an opt-in that tells how the sender opted out before ("I opted out a couple of years ago,
            # but ...", "me di de baja hace meses pero ..."): the story's opt-out words are not a request;
            # nor are those of an opt-out done or regretted ("my son made the opt out without asking me",
            # "me arrepentí de la baja")
            body = "\n".join(_NAMED_OPT_OUT.sub(" ", part) for part in STORY_OR_CLAUSE_PARTS.split(body)
                             if not tells_the_past(DIGITS.sub("0", fold(part))))
        # what the keyword baseline would call `opt_out` (a plain opt-out phrase and no opt-in one),
        # or one of the safety net's own patterns
        if not ((_matches(_OUT, body, _OUT_ANY)[0] and not _matches(_IN, body, _IN_ANY)[0])
                or _matches(_GUARD_OUT, body)[0]):
            return result
        scores = dict(result.scores)
        scores[Intent.OPT_OUT.value] = max(scores.get(Intent.OPT_OUT.value, 0.0), self.GUARD_SCORE)
        return Classification(result.intent, result.confidence, scores, result.classifier,
                              (*result.reasons, "keywords_suggest_opt_out"))


def shipped_model_dir() -> Path:
    """models/intent in a source checkout."""
    return Path(__file__).resolve().parents[2] / "models" / "intent"


def load_classifier(kind: str, model_path: str = "") -> Classifier:
    """The configured classifier, loaded once at start-up."""
    if kind == "keywords":
        return KeywordClassifier()
    from optout_daemon.pipeline import intent_model  # noqa: PLC0415 - spaCy is slow to import

    path = Path(model_path) if model_path else shipped_model_dir()
    if not (path / "meta.json").exists():
        raise FileNotFoundError(
            f"no trained model at {path}: run 'optout-daemon model train', set classifier.model_path, "
            f"or set classifier.kind = \"keywords\"")
    return GuardedClassifier(intent_model.load(path))


def classify(message: ParsedMessage, classifier: Classifier) -> Classification:
    return classifier.classify(message.subject, message.new_text)
