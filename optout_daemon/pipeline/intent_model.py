"""The trained intent classifier: a spaCy TextCatBOW pipeline shipped in models/intent.

- `train(training_dir, out_dir, seed)` trains it from models/training/train.jsonl with the pinned
  models/training/config.cfg (fixed seeds: the same data, config and seed give the same model).
- `load(model_dir)` returns a `SpacyIntentClassifier` whose `.classify(subject, text)` returns a
  `Classification` with all four scores.
- `evaluate(model_dir, heldout_path)` returns the held-out table, model next to the keyword baseline.

The classifier sees exactly what the daemon sees: `classify.model_input(subject, new_text)`, where
new_text is `parse.split_reply(body)[0]`, then `features()`: `normalize()` (lower case, no accents,
digits folded, so that ALL CAPS, missing accents and account numbers do not make new words) followed
by *concept tokens*: each word of a small English/Spanish lexicon mapped to what it means here
(stop, remove, again, consent, refuse, marketing, data, use, question, support, ...), marked when it
falls inside a negation ("do not want to opt out" -> c_neg c_nwant c_nremove), plus adjacent
concept pairs. The bag-of-words model learns from words and concepts together; the concepts are what
let it generalise from a few thousand examples to phrasings it never saw (see docs/MODEL.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from optout_daemon.pipeline.classify import (
    DIGITS,
    QUOTED,
    REPLY_SUBJECT,
    REVERSES_A_RESTRICTION,
    STORY_OR_CLAUSE_PARTS,
    STORY_PARTS,
    KeywordClassifier,
    fold,
    may_tell_the_past,
    model_input,
    beyond_reading,
    tells_the_past,
    within_reading,
)
from optout_daemon.pipeline.parse import split_reply
from optout_daemon.pipeline.types import Classification, Intent

LABELS = (Intent.OPT_OUT.value, Intent.OPT_IN.value, Intent.AMBIGUOUS.value, Intent.UNRELATED.value)
NAME = "model:intent"
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)  # shown by evaluate(): what a decide threshold would do
# A message whose clauses ask for both things ("stop using my data. Then again, send me the deals"), or
# ask and hedge ("Opt me out. Or would that affect my contract?"), is for a person: when two of opt_out,
# opt_in and ambiguous each score CONFLICT_SCORE or more in some clause, half of the probability mass
# moves to `ambiguous` (chosen on dev folds of the training phrasings).
CONFLICT_SCORE = 0.7
# ... but a clause counts as a doubt only when it reads `ambiguous` this surely: in letters that tell a story, a clause
# that only tells it ("When this letter came I almost tossed it", "but she doesn't do email") reads `ambiguous` at
# 0.7-0.9 beside the clear request (twenty-fifth round: chosen on the dev folds and the realistic dev sets)
CONFLICT_AMBIGUOUS_SCORE = 0.9
_CONFLICTING = (Intent.OPT_OUT.value, Intent.OPT_IN.value, Intent.AMBIGUOUS.value)
CONFLICT_LONG_CLAUSES = 4  # ... from this many clauses, a doubt must hold a request word (_REQUEST_CONCEPTS)


def _said_or_negated(*names: str) -> frozenset[str]:
    """The concept tokens of names, as said and inside a negation: "c_stop", "c_nstop"."""
    return frozenset(f"c_{n}{c}" for n in ("", "n") for c in names)


_ASKED = _said_or_negated("question", "qstart", "q")
_REQUEST_CONCEPTS = _said_or_negated(
    "stop", "remove", "add", "consent", "refuse", "reverse", "dnm", "outstate", "give", "objection", "use", "send",
    "keep", "again", "hedge", "want") | _ASKED
# ... and what decides something, for the doubt before an opt-out request: a request word, a condition,
# a "yes", a void word, not a question
_DECIDING = (_REQUEST_CONCEPTS - _ASKED) | _said_or_negated("cond", "yes", "void")
_NAMES_THE_REQUEST = _said_or_negated("stop", "remove", "refuse", "dnm", "outstate")  # ("should I opt out?" doubts it)
# A question about what the request would do ("Or would that affect my contract?", "does opting out cancel my
# discount", "¿eso afecta mi plan?"): the writer has not decided, whatever the model reads in it
_ASKS_WHAT_IT_DOES = re.compile(
    r"\W*(?:(?:or|and|but|so|also)\s+)?(?:would|will|does|do|is|can|could|might)\s+(?:that|this|it|opting out|doing (?:that|this|so)|"
    r"(?:the|an|that|my) opt-?out)\s+(?:\w+\s+)?(?:affect|change|cancel|cost|impact|raise|increase|end|void|hurt|mean|lose|"
    r"take away|turn off|disable|remove)\b|"
    r"\W*(?:y |o |pero )?(?:eso|esto|la baja|la exclusion|excluirme|salirme|darme de baja)\s+(?:me |les |nos |le )?(?:afecta|"
    r"afectaria|afectara|cambia|cambiaria|cancela|cancelaria|cuesta|costaria|quita|quitaria)\b")
# ... and, in a message of its own, what opting out would do ("Would opting out stop the bill reminders too?", typed
# "Wslud ..."): a question ending in "?" whose subject is the opting out
_ASKS_WHAT_OPTING_OUT_DOES = re.compile(
    r"(?:^|[.!?\n]\s*)(?:(?:or|and|but|so)\s+)?[a-z]{2,6}\s+(?:opting out|unsubscribing)\s+(?:\w+\s+)?(?:affect|change|cancel|"
    r"cost|stop|end|remove|mean|impact|raise|turn off|disable)\b[^.!\n]*\?")
# Something done "without my consent" ("A device was financed on my account without my consent", "abrieron una
# línea sin mi autorización"), the only refusal in the message: a complaint about it, for a person
_WITHOUT_CONSENT = re.compile(r"\b(?:without|sin) (?:my|our|mi|nuestro|nuestra|su|his|her) (?:consent|permission|authorization|"
                              r"approval|knowledge|consentimiento|permiso|autorizacion|aprobacion)\b")


def _only_complains_of_consent(text_features: str) -> bool:
    singles = set(_concept_words(text_features))
    return "c_past" in singles and singles & _REFUSALS == {"c_nconsent"} and bool(
        _WITHOUT_CONSENT.search(text_features.rsplit("\n\n", 1)[0]))


# The words of this mailbox's matter: marketing, the customer's data and its use, consent and refusing it
_MATTER = _said_or_negated("stop", "remove", "add", "consent", "refuse", "reverse", "dnm", "outstate", "give", "objection",
                           "mkt", "data", "use", "footer")
# ... and what leaves a long letter undecided however clearly one clause asks
_UNDECIDED = _said_or_negated("cond", "hedge", "void", "yes", "reverse", "outstate", "dnm")
# An opt-in clause before a letter's clear opt-out request, when the writer turns between them ("Yo sí aproveché
# una de sus ofertas y me gustó. Pero no quiero que me sigan mandando cosas ... retiro el consentimiento", "Hace un
# año acepté recibir ofertas, pero ya no. Retiro el permiso"): the story before the decision, no conflict. Not an
# additive "but also", nor a consent said "now" in the opt-in clause itself.
_CONTRAST = r"but(?! also)|pero(?! tambien)|preo|pemo|however|sin embargo"
_TURNS_WITHIN = re.compile(rf"\b(?:{_CONTRAST})\b[^.!?\n]*\b(?:ya no|anymore|no more|no longer|not)\b")
# A clause that opens with a second thought ("Then again, ...", "Or actually, ...", "O mejor, ...", "Aunque pensándolo
# bien, ..."): what it reads other than the answer, even unsurely (DOUBT_SCORE), turns the request, for a person
# (the markers that also start a clause of their own, _CLAUSE_BREAKS: a second thought written mid-sentence is one)
_SECOND_THOUGHTS = r"then again|or actually|or maybe|o mejor|o tal vez"
_SECOND_THOUGHT = re.compile(rf"\W*(?:{_SECOND_THOUGHTS}|on second thought|(?:aunque )?pensandolo bien)\b")
_TURN = re.compile(rf"\b(?:{_CONTRAST}|though|aunque|now|ahora|ya no|anymore)\b")
CONFLICT_SHIFT = 0.5
# Mail that reads unrelated as a whole but has a clause reading opt_in at REQUEST_CLAUSE_SCORE or more
# ("Quiero suscribirme otra vez. También, ¿por qué subió mi factura?") gets the same shift: a person
# looks instead of the request being ignored (opt-outs already are, by policy.opt_out_floor and the
# keyword safety net). Over all that the model reads (classify.within_reading), however long the mail: a long
# letter's "Count me out of that" after a page about a move and a bill is a request too (only within 800
# characters before the twentieth round, for newsletters: a mailing's own opt-out clause is set apart by
# its words instead, _reads_as_a_mailing).
REQUEST_CLAUSE_SCORE = 0.5
# concept tokens follow the text after a blank line, one space apart: the first has no space before it
_MAILING = re.compile(r"(?<!\S)c_(spam|footer)(?!\S)")


def _reads_as_a_mailing(text_features: str) -> bool:
    """A footer's command ("reply STOP"), or two words of a mailing ("click here", "free trial"): the opt-out
    clause of such mail is its footer's. One such word is not enough: a customer's "up here", "my free
    phone" or "I'll lose my discount" beside "Count me out of that" is the customer's own request."""
    words = _MAILING.findall(text_features)
    return "footer" in words or len(words) >= 2


_REVERSAL = re.compile(r"(?<!\S)c_reverse(?!\S)")
# An opt-in answer below OPT_IN_SURE is automatic (at the default opt_in_threshold, 0.8) only when no
# clause of what the customer wrote reads as an opt-out or a doubt at DOUBT_SCORE or more ("Doy mi
# consentimiento. O mejor, no tienen mi autorización"). Twelfth round, dev folds. An opt-in answer to a bare
# "yes" or "OK" is never automatic, however sure ("Yes" under a forwarded notice answers a question nobody
# can see; nineteenth round: at any score, as for "Fine.").
OPT_IN_SURE = 0.9
# Long mail that tells a story around its request (thirteenth round): when the answer is unsure (below
# FOCUS_BELOW for its label) and what the customer wrote is at least FOCUS_MIN_CHARS long with
# FOCUS_MIN_CLAUSES clauses that hold a concept, the clauses reading `unrelated` at FOCUS_UNRELATED or
# more are set aside and the rest is read again ("... calls every night at dinner ... Please opt me out").
# Shorter mail is left alone: on the dev folds the same step for it applied more wrong answers.
FOCUS_UNRELATED = 0.8
FOCUS_MIN_CLAUSES = 3
FOCUS_MIN_CHARS = 250
FOCUS_REQUEST = 0.5  # ... and some clause left reads opt_out or opt_in at this or more
# A long letter (LETTER_MIN_CHARS or more) read as `ambiguous` as a whole, with one clause reading opt_out at
# LETTER_REQUEST_SCORE or more and no word of doubt anywhere, is read by that clause (seventeenth round)
LETTER_MIN_CHARS = 250
LETTER_REQUEST_SCORE = 0.9
TOLD_STOP_SCORE = 0.7  # an opt-in told, a stop request said now: what is said now must read as an opt-out this clearly
FOCUS_BELOW = {"opt_out": 0.6, "opt_in": 0.8, "ambiguous": 1.01, "unrelated": 1.01}
DOUBT_SCORE = 0.5
_DOUBTS = (Intent.OPT_OUT.value, Intent.AMBIGUOUS.value)
_YES_ONLY = frozenset(("c_yes", "c_question", "c_q"))
# ... but "change my answer to yes", "cambien mi respuesta a sí" names what it changes
_CHANGED_TO_YES = re.compile(r"\b(?:change|changing|switch|cambien|cambie|cambia|cambio|cambiar)\b[^.!?\n]{0,25}?"
                             r"\b(?:answer|response|reply|respuesta)\b[^.!?\n]{0,12}?\b(?:to|a|por)[ \t]+(?:yes|si|sicond|sipolite)\b")
# ... and what is only an "OK" (_only_assents)
_BARE_ACCEPT = frozenset("ok okay k kk fine sure alright noted thanks thank you thx got it vale bueno esta bien de acuerdo "
                         "perfecto claro listo sale gracias entendido".split())
# An opt-out answer whose text sets a condition ("Según lo que pierda: no usen mis datos", "If it won't
# cost me anything: restrict my CPNI", "only the tablet line") is for a person; a polite "if" is no
# condition ("I would be grateful if you would exclude my account", "si es posible").
_CONDITION = re.compile(r"(?<!\S)c_n?cond(?!\S)")
# ... and so does one that asks for part of it: "stop some of the promos", "opt out one line and opt in the other"
_PARTIAL = re.compile(r"\b(one line|una linea|the other|la otra|el otro|part of me|una parte de mi)\b"
                      # "stop some of the promos" (not a story's "some of them are from you")
                      r"|\b(?:some of|algunas de|algunos de)\s+(?:(?:the|your|my|these|those|las|los|sus|mis|esas|esos)\s+)?"
                      r"(?:\w+\s+)?(?:promo\w*|offers?|ofertas|texts?|e?mails?|correos|calls?|llamadas|marketing|ads|"
                      r"anuncios|messages|mensajes|lines?|lineas|publicidad|mercadeo|data|datos|info\w*)\b"
                      # "opt out the tablet line, leave my phone as it is", "but not for my wife's line"
                      r"|\b(?:leave|keep|dejen|dejar)\s+(?:my|the|our|mi|la|el|nuestra)\s+(?:\w+\s+){0,2}?"
                      r"(?:as (?:it is|is)|alone|the way it is|como esta|igual)\b"
                      r"|\b(?:but|pero) not? (?:for|on|para|en) (?:my|the|our|mi|la|el|nuestra)\b")
# ... or keeps part of what it stops: "stop using my info for ads, but the loyalty emails can stay",
# "sáquenme de la publicidad pero sí quiero el boletín" (not "pero no quiero que me sigan mandando cosas")
_KEEPS_PART = re.compile(r"\b(?:but|pero|though|aunque)\b(?:(?!\b(?:no|not|never|nunca)\b)[^.!?\n]){0,60}?"
                         r"\b(?:can stay|can remain|(?:is|are) (?:fine|ok|okay|welcome)|"
                         r"can (?:continue|keep)|si (?:quiero|me interesa|me gusta)|pueden seguir|sigan)\b|"
                         # a sentence that keeps one way of reaching the customer ("Please stop the phone calls. The mail
                         # is fine, she likes the catalog", "Los correos están bien")
                         r"(?:^|[.!?\n]\s*)(?:the |your |my |her |his |el |los |las |la |sus )?(?:mail|mailings?|e?mails?|letters?|"
                         r"catalogs?|texts?|calls?|correos?|cartas|mensajes|llamadas)\b[^.!?\n]{0,20}?\b(?:is|are|es|son|estan|esta) "
                         r"(?:fine|ok|okay|welcome|bien)\b")
# ... or opts one line or person in and another out: "Please opt my line in but my daughter's line out",
# "opt me out and leave my husband in"
_IN_AND_OUT = re.compile(r"\bopt\s+(?:[\w']+\s+){0,4}?in\b[^.!?\n]{0,80}?\b(?:but|and|while|pero|y)\b[^.!?\n]{0,60}?"
                         r"\bout\b|\bopt\s+(?:[\w']+\s+){0,4}?out\b[^.!?\n]{0,80}?\b(?:but|and|while|pero|y)\b"
                         r"[^.!?\n]{0,60}?\bin\b(?=\s*(?:[.!?,;\n]|$|please|pls|thanks))")
# An opt-in that keeps something out ("Keep sending me offers for my phone but nothing based on the tablet
# line", "pero no para la línea de mi hijo"): consent for part, a person decides
_PART_OF_THE_ACCOUNT = (r"(?:line|lines|linea|lineas|tablet|tableta|ipad|watch|reloj|phone|telefono|celular|number|numero|"
                        r"device|dispositivo|texts?|calls?|e?mails?|mensajes|llamadas|correos)")
_OPT_IN_EXCEPT = re.compile(r"\b(?:but|pero|except|excepto|aunque)\b[^.!?\n]{0,40}?\b(?:not|no|nothing|nada|none|ninguna|ninguno)\b"
                            rf"[^.!?\n]{{0,40}}?\b{_PART_OF_THE_ACCOUNT}\b|"
                            # "... but leave my wife's line opted out", "pero dejen la línea de mi esposa fuera"
                            r"\b(?:but|and|pero|y)\s+(?:please\s+|por favor\s+)?(?:leave|keep|dejen|mantengan)\b[^.!?\n]{0,40}?"
                            rf"\b{_PART_OF_THE_ACCOUNT}\b[^.!?\n]{{0,20}}?\b(?:opted out|out|off|excluid[ao]s?|fuera|de baja)\b")
_POLITE_IF = re.compile(r"\b(?:if|si|sicond) (?:(?:me|nos|los|las|lo|la|les) )?(?:you|u|it'?s|es|that'?s|possible|posible|usted|ustedes|"
                        r"pueden|puede|podrian|podria|hacen|hace|would|could|needed|necessary|required|need|necesario|"
                        r"necesitan|lo necesitan|hace falta|necesitais|necesitas|necesita|requieren|requiere|precisan|precisa)\b")
# ... nor is an apology's or a wrong address's "if" ("sorry if my last email was not clear", "if this is where I say
# no to the marketing thing, then no", "perdón si no es el correo correcto"), nor "while I'm here"
_NOT_HERE = r"\b(?:si|sicond) no (?:se puede|es) (?:por )?(?:aqui|este correo|asi)\b"  # "si no se puede por aquí"
_ASIDE_IF = re.compile(r"\b(?:sorry|apologies|apologize|perdon|perdone|perdonen|disculpe|disculpen|disculpa) (?:if|si|sicond)\b|"
                       r"\b(?:if|si|sicond) (?:this|that|esto|este|esta) (?:is|es) (?:not )?(?:where|the (?:right|wrong)|"
                       rf"el (?:lugar|correo)|la direccion)\b|\bwhile i'?m here\b|\bwhile i am here\b|{_NOT_HERE}")
# ... nor is an "if" that asks whether ("I don't know if you were part of the breach", "no sé si", "the rep asked
# if it was ok"), concedes ("opt me out, even if I lose the offers", "aun si pierdo el descuento") or sets
# nothing ("if that means anything", "if it helps"): normalize() makes them "whether" and "regardless"
_NO_CONDITION_IF = re.compile(
    r"\b((?:know|knew|sure|certain|wonder|wondering|wondered|ask|asks|asked|asking|check|checking|see|idea|"
    r"tell me|find out|se|sabia|sabe|seguro|segura|pregunto|pregunta|preguntaba|preguntaron|saber|averiguar|a ver) )"
    r"(?:if|si|sicond)\b|\b(?:even|aun|incluso) (?:if|si|sicond)\b|"
    r"\b(?:if|si|sicond) (?:that|it|this) (?:means|matters|helps|counts)\b|\bpor (?:si|sicond) (?:acaso|las dudas)\b")


# ... and the second "if" of a "whether" ("quiero saber si tengo que pedir traslado o si lo hago por la app")
_OR_WHETHER = re.compile(r"(\bwhether\b[^.!?\n]*?\b(?:o|or)) (?:si|sicond|if)\b")


def _no_condition(m: re.Match[str]) -> str:
    return f"{m[1]}whether" if m[1] else "regardless"


# ... nor is the notice's own condition, told: "Your notice says you use CPNI for marketing unless I opt out"
_REPORTED = re.compile(r"\b(?:notice|letter|email|mail|policy|it|carta|aviso|correo)\s+(?:que\s+(?:\w+\s+){0,3}?)?(?:says|said|states|stated|dice|decia|"
                       r"menciona|pone)\b")
# ... and what a letter is telling ("Qué maravilla, otra carta explicándome que pueden usar mis llamadas para
# ofrecerme productos", "another email saying you may use my records"): the carrier's words, told
_LETTER_TELLS = re.compile(r"\b(?:notice|letter|e-?mail|mail|message|paper|carta|aviso|correo|mensaje|papel)\s+(?:\w+\s+){0,2}?"
                           r"(?:explicandome|explicandonos|explicando|diciendome|diciendonos|diciendo|informandome|"
                           r"informando|avisandome|saying|telling me|telling us|explaining)\b")
# An offer of what else may be needed ("If you need a signature from one of the partners, let me know and I'll get it to
# you", "Si necesitáis algún documento, decidme cuál"): a courtesy beside the request, no doubt about it (the clause
# checks' counterpart of _CONTACT_OFFER, which rewrites the commonest offers for the model; this one reads any offer
# that ends in "let me know", whatever is offered)
_OFFER = re.compile(r"\b(?:if|si|sicond|polite) (?:you |u |ustedes |usted )?(?:need|needs|require|requires|necesitan|necesitais|"
                    r"necesita|necesitas|requieren|requiere)\b[^.!?\n]{0,80}?\b(?:let me know|let us know|contact me|call me|"
                    r"e-?mail me|reach me|i'?ll|i will|we'?ll|we will|just ask|happy to|avisenme|avisen|avisadme|avisame|"
                    r"diganme|decidme|digame|dime|me avisan|me dicen|me llaman|con gusto|escribanme|quedo)\b")
# A routing remark after a request ("si no se puede por aquí díganme a dónde escribo", "if this isn't the right
# place, tell me where to send it") doubts nothing about it
_ROUTING = re.compile(rf"{_NOT_HERE}|\ba donde (?:escribo|mando|llamo)\b|"
                      r"\bif (?:this|it) (?:is not|isn't|can ?not|can't|cannot) (?:\w+ ){0,3}?(?:here|the right|by email)\b|"
                      r"\bwhere (?:do|should|can) i (?:send|write|go)\b")
# A clause ends at a sentence mark, except a point inside a number ("757.440.578") or after "no" before
# a number ("acct no. 757", "No. de cuenta 6260": a bare "acct no" clause read like a refusal).
_CLAUSE_BREAKS = (r"(?!(?<=\d)\.\d|(?<=\bno)\.\s*(?:de\s+\w+\s*)?[#:\d])[.!?;\n]+\s*"
                  rf"|\s+(?=(?:but|pero|{_SECOND_THOUGHTS}|aunque|"
                  r"however|sin embargo|bueno,? no s[eé]|well,? i (?:don'?t|do not|dont) know|i say|yo digo|"
                  # a question tacked on without a mark: "do not use my information or would that affect my contract"
                  r"or (?:would|will|does|do|is|should|can|could|am)(?= \w))\b)"
                  # a second speaker: "My wife says: STOP. I say: ..."
                  r"|(?<=\bsays):\s*|(?<=\bsay):\s*|(?<=\bdice):\s*|(?<=\bdigo):\s*")
# Every break starts at a mark, a colon or whitespace: said first, the pattern is tried only there (a
# third of the time; a test compares the splits with the bare pattern's)
_CLAUSES = re.compile(rf"(?=[.!?;:\s])(?:{_CLAUSE_BREAKS})", re.I)

_A_WORD = re.compile(r"\w+")
_BARE_CONTRACTION = re.compile(r"\b(do|does|did|ca|wo|is|are|was|should|would|have|has)nt\b")
# "donnt", "dnt", "dn't", "doont": a typed "don't" is still a negation (typos are a fact of this mailbox)
_DONT_TYPO = re.compile(r"\b(do+n+'?t+|dn'?t)\b")
# "Uno my opt-out please": "undo" typed without its d (not the Spanish "uno", one), before the opt-out named
_UNDO_TYPO = re.compile(r"\buno (?=(?:my|the|that|this) (?:opt[- ]?out|optout)\b)")
_AUTHORIZED_USER = re.compile(r"\b(author[a-z]{2,6} users?|usuari[oa]s? autori[a-z]{3,5})\b")  # (typed wrong too: "authorzeid")
# "the do-not-market list", "lista de no contactar": a place, not a negation ("take me off the DNM list").
# The government's registry is not the carrier's list: "Call the do not call number to register", "the
# national do-not-call registry" (a chain letter, a question about it)
_NATIONAL_REGISTRY = re.compile(r"\b(?:(?:national|federal|ftc|government|gov) do[- ]not[- ]call(?:[- ](?:list|registry))?"
                                r"|do[- ]not[- ]call (?:registry|number|website|site|hotline)|donotcall\.gov"
                                r"|registro nacional de no llamar)\b")
_DO_NOT_LIST = re.compile(r"\b(do[- ]not[- ](market|contact|call|solicit|mail)(ing)?|do[- ]not[- ](send|email|text)(?=[- ]list)"
                          r"|no[- ](contactar|llamar|publicidad)"
                          r"|no[- ](marketing|mercadeo|promotions?|promos?|ads|offers|sales)(?=[- ]list)"
                          r"|(?:(?<=lista de )|(?<=lista esa de )|(?<=lista esta de ))no (comercializar|mercadeo|marketing|promociones|ofertas|enviar|molestar"
                          # "la lista de no mandar promociones"
                          r"|mandar|mandarme|enviarme|contactar|llamar)"
                          r"|(?<=lista )de exclusion|exclusion(?= list\b))"
                          r"(?=[- ](list|lista)\b|\b)")
# "Reply STOP to unsubscribe", "responda BAJA": an instruction in a mailing's footer, not a request.
_FOOTER_COMMAND = re.compile(r"\b(reply|text|txt|send|press|responda|responde|envie|conteste)\s+(with\s+|con\s+)?"
                             r"[\"'(]?(stop|remove|unsubscribe|end|quit|cancel|no|opt[- ]?out|baja|alto|salir|0)\b")
# ... and its link: "To unsubscribe from these communications, click here", "click here to opt out", "Para salir de esta
# lista haga clic aquí" (the mailing's way out, not the sender's request)
_FOOTER_LINK = re.compile(
    r"\b(?:to |para )?(?:unsubscribe|opt[- ]?out|be removed|remove yourself|stop receiving|darse de baja|darte de baja|dese de baja|"
    r"cancelar (?:su|tu) suscripcion|salir de esta lista|dejar de recibir)\b[^.!?\n]{0,60}?\b(?:click|clic|tap|pulse|toque)\b"
    r"[^.!?\n]{0,15}?\b(?:here|aqui|below|link|enlace)\b|"
    r"\b(?:click|clic|tap|pulse|toque)\s+(?:here|aqui|below|on this link|en este enlace|en el enlace)\s+(?:to|para)\s+"
    r"(?:unsubscribe|opt[- ]?out|be removed|stop receiving|darse de baja|darte de baja|cancelar (?:su|tu) suscripcion|"
    r"salir de esta lista|dejar de recibir)\b")
_AS_LONG_AS = re.compile(r"\b(as long as|so long as|siempre (que|y cuando)|a menos que|a no ser que|"
                         r"con tal (de )?que)\b")
# typed fast: "tkae back", "take bcak" (a missed "take back my consent" had read as giving it)
_TAKE_BACK = re.compile(r"\b(take|takes|taking|took|tkae|taek|tak|tke) (back|bcak|bakc|bak)\b")
# "Así que retiro lo que dije: podéis usar mis datos", "I take back what I said": what was said is set aside (a void),
# not consent withdrawn
_WHAT_I_SAID = re.compile(r"\b(?:retiro|retiramos|withdraw|retract|retracto)\s+(?:lo que (?:les |os |le )?(?:dije|pedi|escribi|"
                          r"dijimos|pedimos|escribimos)|lo dicho|what (?:i|we) (?:said|wrote|asked|requested|asked for))\b")
_LEAVE_OUT = re.compile(r"\b(dejen|dejar|dejaron|dejado|dejarme|dejenme) fuera\b")
_NO_THANKS = re.compile(r"\bno,? (thanks|thank you|thx|gracias)\b")
_TURN_ON = re.compile(r"\b(turn|switch) (back )?on\b")
_TAL_VEZ = re.compile("tal vez")
_SCRATCH_THAT = re.compile(r"\bscratch (that|it)\b")
_SIN_EFECTO = re.compile(r"\b(dejen|dejar|deje|quede|quedar) sin efecto\b")
_THE_BLOCK = re.compile(r"\b(the|my|this|that|your|any) ((?:marketing |promo |ad |privacy )?)block\b")
_HACE_FALTA = re.compile(r"\bhace falta\b")
_PUEDE_QUE = re.compile("puede que")
_AMOUNT_OFF = re.compile(r"(\d\s*(?:%|percent|dollars|bucks)?) off\b")  # "$10 off": a discount, not "turn off"
_FINE_PRINT = re.compile(r"\bfine print\b")  # "I read the fine print": no "fine" (agreeing)
_NOT_LIMITED = re.compile(r"\b(?:including|includes|include),? but not limited to\b|\bbut not limited to\b")
_MEANWHILE = re.compile(r"\bmientras tanto\b")
_JUST_THAT = re.compile(r"(^|[.!?,;:\n]\s*)(?:es )?solo que\b")
# "make sure it sticks", "asegúrense de que": a request that it be done, not "not sure" (a doubt)
_MAKE_SURE = re.compile(r"\b(?:make|making|be) sure\b|\basegur(?:ense|en|ar|arse)\b")
# "it looked like legal fine print", "sounds like": a likeness, not "I'd like" (wanting)
_LOOKS_LIKE = re.compile(r"\b(look|looks|looked|looking|seem|seems|seemed|sound|sounds|sounded|feel|feels|felt) like\b")
# "solo quiero decirles que no", "I only wanted to let you know": "just", no condition
_JUST_TO_SAY = re.compile(r"\b(?:solo|solamente|only) (?=(?:(?:quiero|queria|quisiera) (?:decir|avisar|informar|comentar|aclarar)[a-z]*|"
                          r"les escribo|escribo|les aviso|want(?:ed)? to (?:say|let|tell|confirm)|writing to|"
                          # "she only has the one line", "solo tiene una línea": just, no condition (not "only use ...")
                          r"has|have|had|uses|used|is|was|are|were|tiene|tienen|tenia|tenemos|usa|usan)\b)")
# "Not now, not later", "ni ahora ni nunca": never, not a hedge
_NOT_NOW_OR_LATER = re.compile(r"\b(?:not|no|ni) (?:now|ahora),? (?:(?:and|or|nor|y|o) )?(?:not |no |ni )?"
                               r"(?:later|ever|never|nunca|despues|luego|jamas)\b")
# "Do not use my account info for anything except billing me", "para nada que no sea darme el servicio": what the
# carrier may do with CPNI anyway (the service, the bill), named as the only use left: the whole request, no condition
_EXCEPT_THE_SERVICE = re.compile(
    r"\b(?:except|other than|besides|excepto|salvo|aparte de|(?:nada|anything|nothing) (?:que no sea|but))\s+(?:for\s+|para\s+|to\s+)?"
    r"(?:(?:billing|bill|charge|charging)(?: me| us)?|(?:my |our |the |your )?(?:bills?|billing|service|services)|"
    r"(?:providing|provide|running|giving me|darme|darnos|prestarme|dar)(?: me)? (?:my |our |the |el |mi )?(?:service|servicio|account|cuenta)|"
    r"(?:la |mi )?(?:factura|facturacion|facturarme|cobrarme|servicio|el servicio))\b")
# "I changed my mind", "cambié de opinión", "me arrepentí": a change, in neither direction (the request after it says
# which way; as words, the training mail's changed minds were mostly back to the offers)
# ("I've changed my mind back", "cambié de opinión otra vez": back or again to where it was, in neither direction either)
_CHANGED_MIND = re.compile(r"\b(?:changed|change|changing) (?:my|our|his|her|their) minds?(?: \(?(?:back|again|once again))?\b|"
                           r"\bcambi(?:e|o|amos|aron) de (?:opinion|idea|parecer)(?: otra vez| de nuevo)?\b|\b(?:me|nos) arrepenti(?:mos)?\b|"
                           r"\b(?:me |nos )?lo (?:he |hemos )?pensado mejor\b|\blo pense mejor\b")
# "I changed my mind about opting out": that opt-out undone; "... about opting in": that consent withdrawn
_MIND_ABOUT = re.compile(r"\b(?:changed|change|changing) (?:my|our) minds? about (?:(opting out|the opt-?out|my opt-?out|"
                         r"being opted out|unsubscribing|the unsubscribe)|opting in|the opt-?in|my opt-?in|"
                         r"giving (?:you )?(?:my )?consent|my consent|consenting)\b")


def _mind_about(m: re.Match[str]) -> str:
    return "now undo my opt-out" if m.group(1) else "now withdraw my consent"


# "go back to being opted out": the state asked for, not a way back to the offers; "put me back on the do-not-market
# list": on the list
_BACK_TO_BEING = re.compile(r"\b(?:go|going|get|getting|be|went|switch|switching) back to (?:being )?"
                            r"(?=opted out|opted-out|excluded|unsubscribed|restricted|opt-?out)")
_BACK_ON_THE_LIST = re.compile(r"\bback (?=(?:on|onto|in|into|to) (?:the |your |that |my )?\s*(?:dnmjoin )?(?:dnmlist|do not))")
# ... "vuelvan a ponerme en la lista de no mercadeo": again on the list, no way back to the offers
_VUELVAN_A_LA_LISTA = re.compile(r"\b(?:vuelvan|vuelva|volver|vuelve|vuelvanme) a (?=(?:ponerme|ponernos|ponerla|ponerlo|ponerlos|meterme|"
                                 r"meternos|agregarme|agregarnos|incluirme|incluirnos|anotarme|anotarnos|poner|meter|agregar|incluir|anotar)"
                                 r"\b[^.!?\n]{0,60}?\b(?:en|a) (?:la |su |esa |esta )?(?:lista (?:de |esa de )?)?\s*(?:dnmjoin )?dnmlist)")
# a job's name ("Retail Sales Associate", "the sales position") and a résumé: not marketing, not "resume" the offers
_SALES_JOB = re.compile(r"\bsales (?=(?:associate|position|job|opening|role|floor)s?\b)")
_RESUME_DOCUMENT = re.compile(r"\b(?:my|the|a|attached|updated) resume\b|\bresume (?=(?:is |was )?attached)")
# an offer to be reached, closing a letter ("Any questions, contact me at this email", "If we need something we'll
# call you", "si necesitan algo más, llámenme"): no condition on the request, no contact asked for or refused
_CONTACT_OFFER = re.compile(r"\b(?:if|should) (?:you|we|i) (?:need|have|require|want) (?:anything|something|any|more|further|"
                            r"additional|a copy|to reach|to contact|to talk|to speak)\b[^.!?\n]*|\bany (?:further )?questions\b"
                            r"[^.!?\n]*|\b(?:feel free|do not hesitate|don't hesitate) to (?:contact|call|reach|email|write)\b[^.!?\n]*|"
                            r"\bsi (?:necesitan|necesita|necesitais|necesitas|tienen|tiene|requieren|requiere) (?:algo|alguna|algun|cualquier|mas|"
                            r"informacion|documentos?|firma|preguntas|dudas)\b[^.!?\n]*|"
                            # "si necesitan hablar con ella, yo estoy con ella en las tardes", "si quieren confirmar, llámenme"
                            r"\bsi (?:necesitan|necesita|necesitas|quieren|quiere|desean|desea) (?:hablar|comunicarse|"
                            r"contactar\w*|llamar\w*|confirmar|verificar)\b[^.!?\n]*|"
                            # "If you need a signature from one of the partners, let me know"
                            r"\bif you (?:need|require) (?:a signature|a document|documents|documentation|paperwork|proof|a form|"
                            r"anything else)\b[^.!?\n]*|"
                            # "best contact is this email or 555-0123", "You can reach me at ..."
                            r"\bbest (?:contact|number|phone|email|way to reach (?:me|us))\b[^.!?\n]*|\breach (?:me|us) at\b[^.!?\n]*")
# the formal "me permito solicitarles ..." / "nos permitimos informarles": taking the liberty, not permitting
_I_TAKE_THE_LIBERTY = re.compile(r"\b(?:me permito|nos permitimos)\s+(?=[a-z]+(?:ar|er|ir)(?:les|le|me|nos|los|las|lo|la)?\b)")
_HOJA_DE_VIDA = re.compile(r"\bhoja de vida\b")  # a CV (Colombia)
# money wanted back ("I still want the $35 back", "my money back"): a refund, not the offers back
_MONEY_BACK = re.compile(r"(?:\$\s?\d[\d,.]*|\b(?:money|refund|credit|deposit|fee|fees|charge|charges)) back\b")
# "as provided under 47 C.F.R. § 64.2007", "as provided by law": what a rule sets out, not "provided (that)"
_AS_PROVIDED = re.compile(r"\bas provided (?=(?:under|in|by|for)\b)")
_RAN_OUT = re.compile(r"\b(?:ran|run|runs|running) out of\b")  # "I ran out of data": not "out"
_NOT_ARRIVING = re.compile(r"\bno (?:me |le |nos |te )?(?:llega|llegan|entra|entran|funciona|funcionan|carga|cargan)\b")
# a service, a line or an account cancelled, closed or taken off the account: support, not marketing ("Quiero
# cancelar esa línea", "Please remove my old number from the account", "Remove the extra line we don't use"),
# unless marketing is named right after ("remove my number from your marketing list")
_SERVICE_OBJECT = (r"(?:(?:my|the|this|that|his|her|our|their|an|a|esa|esta|mi|la|su|el|una|sus|mis|las|los)[ \t]+)"
                   r"(?:(?!opt|exclu|restric|block|bloque)[\w'-]+[ \t]+){0,2}?"
                   r"(?:lines?|accounts?|services?|plan|contract|numbers?|devices?|add-?on|features?|users?|cards?|"
                   r"insurance|lineas?|cuentas?|servicios?|contrato|numeros?|equipos?|usuarios?|tarjetas?|"
                   r"seguro)\b(?![^.!?\n]{0,30}\b(?:marketing|promo\w*|publicidad|ofertas?|offers?|ads|advertis\w*|mercad\w*|"
                   r"lists?|listas?|mailing|cpni)\b)")
_CANCEL_SERVICE = re.compile(r"\b(?:cancel|cancell?ed|cancell?ing|cancelar|cancelen|cancela|close|closing|cerrar|cierren|"
                             r"suspend|suspendan|suspender|disconnect|dar de baja|den de baja|remove|delete|eliminen|eliminar|"
                             r"quiten|quitar|borren)[ \t]+(?=" + _SERVICE_OBJECT + ")")
# "Denme de baja de las alertas de consumo de datos", "unsubscribe me from the data usage alerts": the account's own
# notices (usage, payment, balance, outage), not marketing; so too its billing ways ("Opt me out of autopay, I'll pay
# manually", "sáquenme del pago automático")
_SERVICE_ALERTS = re.compile(
    r"\b(?:unsubscribe(?: me| us)?|opt (?:me |us )?out|stop(?: sending(?: me| us)?| mailing(?: me| us)?)?|remove (?:me|us)|turn off|"
    r"(?:den|denme|darme|dar|darnos|dennos) de baja|quiten(?:me)?|quitar|saquen(?:me)?|sacarme|desactiven|desactivar|cancelen|cancelar|"
    r"dejen de (?:mandarme|enviarme|mandarnos|enviarnos|mandar|enviar))[ \t]+"
    r"(?=(?:(?:from|of|de|del|from all)[ \t]+)?(?:the|my|all|las|los|la|el|mis|mi|todas las)?[ \t]*"
    r"(?:(?:data|usage|data usage|payment|balance|billing|bill|outage|low balance|autopay)[ \t]+(?:alerts?|notifications?|reminders?|"
    r"warnings?|texts?)|(?:alertas?|notificaciones|avisos|recordatorios|mensajes)[ \t]+de[ \t]+(?:consumo|uso|datos|pago|saldo|factura|"
    r"facturacion|interrupcion|cortes?)|(?:paper|printed|mailed)[ \t]+(?:statements?|bills?|invoices?)|"
    r"(?:estados? de cuenta|facturas?|recibos?)[ \t]+(?:impres[oa]s|en papel|por correo)\b|"
    r"(?:auto-?pay|auto pay|automatic payments?|paperless(?: billing)?|e-?billing|pago automatico|cargo automatico|"
    r"domiciliacion|factura electronica)\b))")
# "clear the do-not-market flag": lift it (a reversal), not "claro"
_CLEAR_THE = re.compile(r"\bclear(?=[ \t]+(?:the|my|this|that|our|any)[ \t]+(?:[\w'-]+[ \t]+){0,2}?"
                        r"(?:dnmlist|flag|restriction|block|opt-out|optout|opt out|exclusion|objection)\b)")
# "stop holding back the deals", "quit keeping the deals away from my line": withholding them (undone, a reversal)
_HOLD_BACK = re.compile(r"\b(?:hold|holds|holding|held) back\b"
                        r"|\b(?:keep|keeps|keeping|kept)\b(?=(?:[ \t]+[\w'-]+){1,3}[ \t]+(?:away|aawy|awya|awy|aay|awway|awaay)\b)"
                        r"|\b(?:mantengan|mantener|mantenga|manten|dejen|tengan)\b(?=(?:[ \t]+[\w'-]+){1,3}[ \t]+lejos\b)")
# "leave my info alone", "déjenme en paz con las promociones": stop
_LEAVE_ALONE = re.compile(r"\b(?:leave|leaving)\b(?=(?:[ \t]+[\w'-]+){1,3}[ \t]+alone\b)"
                          r"|\b(?:dejenme|dejennos|dejen(?=[ \t]+(?:me|nos)\b))(?=(?:[ \t]+[\w'-]+){0,1}?[ \t]+en[ \t]+paz\b)")
# "keep my data private", "quiero que mi información sea privada", "eso es privado": restricted ("privacy" is not)
_KEPT_PRIVATE = re.compile(r"(\b(?:keep|keeps|kept|keeping|be|is|are|sea|sean|es|son|mantengan|"
                           r"mantener|mantenga|quede|queden|dejen)\b(?:[ \t]+[\w'-]+){0,4}?[ \t]+)(?:private|privad[oa]s?)\b")
# "Mobile data stopped working", "dejó de funcionar": broken, not a stop request
_STOPPED_WORKING = re.compile(r"\b(?:stopped|stops|quit|quits|dejo de|dejaron de|deja de|dejan de)[ \t]+"
                              r"(?:working|loading|charging|connecting|ringing|funcionar|servir|cargar|"
                              r"conectar|sonar)\b")
# "Bloqueen al 555-0199", "block this number": a caller blocked, not marketing
_BLOCK_CALLER = re.compile(r"\b(?:block|blocks|blocking|bloqueen|bloquear|bloquee|bloquea)\b(?=[ \t]+(?:(?:al|a|el|este|ese|this|that|the|"
                           r"a)[ \t]+)?(?:number|numero|caller|callers|llamadas? de|robocall\w*|spam calls|\+?\(?\d))")
# "add international calling", "agreguen una línea": a service added, not consent
_ADD_SERVICE = re.compile(r"\b(?:add|adding|agregar|agreguen|agregue|anadir|anadan)\b(?=[ \t]+(?:(?:a|an|another|one|more|una|otra|un|otro|"
                          r"mas)[ \t]+)?(?:[\w'-]+[ \t]+)?(?:lines?|calling|minutes|data|devices?|hotspot|roaming|phones?|users?|"
                          r"watch|tablet|package|plan|gb|lineas?|minutos|datos|equipos?|telefonos?|usuarios?|paquete)\b"
                          # "agregar a mi esposa como usuaria autorizada", "add my son as an authorized user"
                          r"|(?=(?:[ \t]+[\w'-]+){0,4}?[ \t]+(?:as|como)[ \t]+(?:(?:an?|un|una)[ \t]+)?authorizeduser\b))")
# "Quiero la exclusión del CPNI", "I request an opt-out": asking for the state is asking to be excluded (not
# "my opt-out", the state a reversal undoes: "I want my opt-out cancelled" stays)
_WANT_THE_STATE = re.compile(r"\b(quiero|queremos|solicito|solicitamos|pido|pedimos|want|wants|request|requesting)[ \t]+"
                             r"(?:la|una|the|an?)[ \t]+(?:exclusion|opt-out|optout|opt out)\b"
                             r"(?![^.!?\n]{0,30}\b(?:cancel\w*|revers\w*|undone|lifted|removed|anulad\w*|revertid\w*|quitad\w*|"
                             r"deshech\w*|levantad\w*))")
# "salirme del plan familiar": leaving a plan, not marketing
_LEAVE_PLAN = re.compile(r"\bsali(?:r|rme|rnos|rse|mos)\s+(?=(?:del|de la|de mi|de su|de nuestro|de nuestra)\s+"
                         r"(?:plan|contrato|cuenta|servicio)\b)")
# "No. de cuenta 0", "Acct No. 0": a number, not "no"
_NUMBER_ABBREVIATION = re.compile(r"\bno\.(?=[ \t]*(?:de[ \t]+(?:cuenta|tel|telefono|linea|cliente)\b|[#:\d]))")
_BILLS_BY_MAIL = re.compile(r"\benvio (?=de (?:los |las |la |el )?(?:cheques?|facturas?|recibos?|estados? de cuenta|tarjetas?|"
                            r"reembolsos?)\b)")
_ME_ACUERDO = re.compile(r"\b(me|te|se|nos) acuerdo\b")
# "si" typed without its accent before a pronoun or "no" is "if", not "yes": "si me vuelven a llamar",
# "si no se puede" (but "si me interesa", "SI QUIERO" say yes; an accented "sí" is always yes)
_SI_IF = re.compile(r"\bsi (?=(?:(?:me|te|se|nos|les?|l[oa]s?|no|ya|usted|ustedes)\b(?! (?:interesa|interesan|gusta|gustan|"
                    r"gustaria|encanta|encantan|quiero|queremos|acepto|autorizo|deseo)\b)|"
                    # ... and before an infinitive that carries its pronoun ("si darme de baja me quita el descuento")
                    r"[a-z]+(?:arme|erme|irme|arnos|ernos|irnos)\b))", re.I)
# ... and before "(me) pueden / podrían / hacen el favor" it is a polite "if you could", no condition
_SI_POLITE = re.compile(r"\bsi (?=(?:(?:me|nos|les?) )?(?:pueden|puede|podr[ií]an|podr[ií]a|hacen|hace)\b)", re.I)


# Setting aside an earlier request ("Les escribo para revocar esa solicitud", "I withdraw my previous request"):
# the verb becomes "rescind", a `void` word, not a stop word (the request it sets aside may have been an opt-out)
_REVOKE_REQUEST = re.compile(r"\b(?:revoke|revoking|withdraw|withdrawing|retract|retracting|cancel|cancelling|canceling|"
                             r"rescind|revocar|revoco|revoquen|retirar|retiro|anular|anulo|anulen|cancelar|cancelo|cancelen)"
                             r"(?=\s+(?:that|this|my|the|esa|esta|mi|la|dicha)\s+(?:(?:previous|earlier|prior|last|original|"
                             r"former)\s+)?(?:request|solicitud|peticion|instruction|instruccion|pedido)\b)")


def _bare_contraction(m: re.Match[str]) -> str:
    return {"ca": "can", "wo": "will"}.get(m.group(1), m.group(1)) + " not"


# "out" after a verb it does not make a request of: "figure out why it drops", "the tech came out", "it went out
# again", "check out", "find out" (after _NO_CONDITION_IF, which reads "find out if" as "whether")
_PARTICLE_OUT = re.compile(r"\b(figure|figured|figuring|figures|find|finds|finding|found|came|come|comes|coming|check|checked|"
                           r"checking|sort|sorted|sorting|work|worked|working|works|point|pointed|pointing|turn|turned|turns|"
                           r"ran|run|runs|running|went|go|goes|going|print|printed|reach|reached|reaching|fill|filled|"
                           r"filling|freak|freaked|pass|passed|burned|burnt|zoned|wore|worn|spell|spelled|carry|carried|"
                           r"sent|send|sends|sending|mailed|hand|handed|blacked|knocked|miss|missed|misses|missing) out\b")
# a line, a number or a person placed on the do-not-market list ("Please put all 14 lines on the Harborview account on
# the do-not-market list", "add my line to your do not market list", "pongan mi número en la lista de no publicidad"):
# joining the list, an opt-out, however many words name what joins it (not "I was put on it", a story)
_ONTO_THE_LIST = re.compile(r"(?<!\bwas )(?<!\bwere )(?<!\bbeen )(?<!\bgot )(?<!\bget )(?<!\bi )(?<!\bwe )(?<!\bhe )"
                            r"(?<!\bshe )(?<!\bthey )(?<!\bwho )"
                            r"\b(?:put|place|add|include|enroll|register|pongan|ponga|poner|ponerme|ponernos|ponerlo|ponerla|"
                            r"agreguen|agregue|agregar|agregarme|incluyan|incluya|incluir|incluirme|anadan|anadir|metan|meter|"
                            r"meterme|inscriban|inscribir|inscribirme)\b[^.!?\n]{0,80}?\b(?:on|onto|to|in|into|en|a)\s+"
                            r"(?:(?:the|your|our|their|su|sus|la|esa|esta|vuestra)\s+)?(?:lista de\s+)?\s*(?=dnmlist\b)")
_NEGATED_JUST_BEFORE = re.compile(r"\b(?:not|no|never|nunca|jamas)\s+(?:\w+\s+)?$")


def _onto_the_list(match: re.Match[str]) -> str:
    """A joining of the list marked "dnmjoin", unless negated ("please do NOT put me on the do-not-market list")."""
    if _NEGATED_JUST_BEFORE.search(match.string, max(0, match.start() - 30), match.start()):
        return match.group(0)
    return match.group(0) + "dnmjoin "


# "keeps dropping", "keep freezing", "se sigue cayendo": a fault that goes on, not something the customer keeps
_KEEPS_FAILING = re.compile(r"\bkeeps\b ?|\bkeep (?=(?:dropping|freezing|crashing|disconnecting|buffering|rebooting|"
                            r"restarting|failing|dying|glitching|lagging|cutting|losing|going (?:down|out))\b)|"
                            r"\bsigue (?=(?:cayendo|fallando|cortando|cortandose|llegando|cobrando|mandando|enviando|"
                            r"llamando|sin|apareciendo|saliendo)\b)")


# The rewrites of normalize(), in order, each with strings one of which every match contains: a
# pattern runs only on text that holds one of them (a test checks the result is the same).
_REWRITES: tuple[tuple[tuple[str, ...], re.Pattern[str], Any], ...] = (
    (("nt",), _BARE_CONTRACTION, _bare_contraction),
    (("dn", "don", "doo"), _DONT_TYPO, "do not"),
    (("uno ",), _UNDO_TYPO, "undo "),
    (("call", "llamar"), _NATIONAL_REGISTRY, " nationalregistry "),
    (("not", "contactar", "llamar", "publicidad", "exclusion", "comercializar", "mercadeo", "marketing", "promo", "ads",
      "offers", "sales", "ofertas", "enviar", "mandar", "molestar"),
     _DO_NOT_LIST, " dnmlist "),
    (("author", "usuari"), _AUTHORIZED_USER, " authorizeduser "),
    (("reply", "text", "txt", "send", "press", "respond", "envie", "conteste"), _FOOTER_COMMAND, " footercommand "),
    (("click", "clic", "tap", "pulse", "toque"), _FOOTER_LINK, " footercommand "),
    (("long as", "siempre", "menos que", "no ser que", "con tal"), _AS_LONG_AS, " aslongas "),
    (("tal vez",), _TAL_VEZ, "talvez"),
    (("scratch",), _SCRATCH_THAT, "disregard that"),  # "whatever I said about ..., scratch that"
    (("sin efecto",), _SIN_EFECTO, "deshagan"),  # "dejen sin efecto mi exclusión": undo it
    (("block",), _THE_BLOCK, r"\1 \2restriction"),  # "lift the block on promos": the state, not a verb
    (("hace falta",), _HACE_FALTA, "necesito"),  # "ya no hace falta la restricción": no longer needed
    (("puede que",), _PUEDE_QUE, "puedeque"),
    ((" off",), _AMOUNT_OFF, r"\1 discount"),
    (("acuerdo",), _ME_ACUERDO, r"\1 recuerdo"),  # "no me acuerdo qué escogí": remembering, not agreeing
    (("limited",), _NOT_LIMITED, "including"),  # a contract's "including but not limited to": no "but", no "not"
    (("fine print",), _FINE_PRINT, "smallprint"),
    ((" out of",), _RAN_OUT, "usedup"),
    (("as provided",), _AS_PROVIDED, "as stated "),
    (("no ",), _NOT_ARRIVING, "nollega"),  # "no me llegan los mensajes": not received, no refusal
    (("cancel", "close", "closing", "cerrar", "cierren", "suspend", "disconnect", "de baja", "remove", "delete", "elimin",
      "quit", "borren"), _CANCEL_SERVICE, "cancel-service "),
    (("envio",), _BILLS_BY_MAIL, "statement "),  # "paren el envío de los cheques": billing
    (("alert", "notific", "remind", "warning", "aviso", "recordatorio", "mensajes de", "paper", "printed", "mailed", "impres",
      "en papel", "por correo", "pay", "billing", "automatico", "domicili", "electronica", "text"), _SERVICE_ALERTS,
     "cancel-service "),
    (("sali",), _LEAVE_PLAN, "cancel-service "),
    (("exclusion", "opt-out", "optout", "opt out"), _WANT_THE_STATE, r"\1 exclude"),
    (("clear",), _CLEAR_THE, "lift"),
    (("stop", "quit", "dej"), _STOPPED_WORKING, "broken"),
    (("block", "bloque"), _BLOCK_CALLER, "blockcaller"),
    (("dnmlist",), _ONTO_THE_LIST, _onto_the_list),
    (("add", "agreg", "anad"), _ADD_SERVICE, "addservice"),
    ((" back", "away", "aawy", "awya", "awy", "aay", "lejos"), _HOLD_BACK, "withholding"),  # ("away" typed wrong too)
    (("alone", "en paz"), _LEAVE_ALONE, "stop"),
    (("privat", "privad"), _KEPT_PRIVATE, r"\1restricted"),
    (("no.",), _NUMBER_ABBREVIATION, "numero"),
    (("mientras tanto",), _MEANWHILE, "meanwhile"),  # not "mientras" (while, as long as)
    (("solo que",), _JUST_THAT, r"\1es que"),  # "..., solo que no quiero publicidad": "it's just that", no condition
    (("back", "bcak", "bakc", "bak"), _TAKE_BACK, "withdraw"),  # "take back my consent": withdraw it; "... my opt-out": undo it
    (("lo que", "lo dicho", "what i", "what we"), _WHAT_I_SAID, "disregard that"),
    (("fuera",), _LEAVE_OUT, "excluir"),  # "no me dejen fuera de las promociones"
    (("turn", "switch"), _TURN_ON, "enable"),
    (("thank", "thx", "gracias"), _NO_THANKS, "nothanks"),  # a refusal, not a negation of what follows
    (("if", "si"), _NO_CONDITION_IF, _no_condition),  # "I don't know if ...", "even if", "if that means anything"
    (("whether",), _OR_WHETHER, r"\1 whether"),
    (("sure", "asegur"), _MAKE_SURE, "ensure"),
    ((" like",), _LOOKS_LIKE, r"\1 similar"),
    (("solo ", "solamente ", "only "), _JUST_TO_SAY, ""),
    (("now", "ahora"), _NOT_NOW_OR_LATER, "never"),
    (("if you ", "if we ", "if i ", "should you ", "should we ", "should i ", "questions", "hesitate", "feel free",
      "si necesit", "si tien", "si requier", "si quier", "si dese", "best ", "reach me", "reach us"), _CONTACT_OFFER,
     "contactoffer"),
    ((" back",), _MONEY_BACK, "refund"),
    (("mind about",), _MIND_ABOUT, _mind_about),
    (("mind", "cambie de", "cambio de", "cambiamos de", "cambiaron de", "arrepenti", "pensado mejor", "pense mejor"),
     _CHANGED_MIND, "now"),
    ((" back to",), _BACK_TO_BEING, "be "),
    (("back ",), _BACK_ON_THE_LIST, ""),
    (("vuelv", "volver"), _VUELVAN_A_LA_LISTA, ""),
    (("sales ",), _SALES_JOB, "job "),
    (("except", "other than", "besides", "excepto", "salvo", "aparte", "que no sea", " but "), _EXCEPT_THE_SERVICE, "forservice"),
    (("resume",), _RESUME_DOCUMENT, "cv"),
    (("permit",), _I_TAKE_THE_LIBERTY, ""),  # "me permito solicitarles", "me permito enviar mi hoja de vida"
    (("hoja de vida",), _HOJA_DE_VIDA, "cv"),
    (("revo", "withdraw", "retract", "cancel", "rescind", "retir", "anul"), _REVOKE_REQUEST, "rescind"),
    ((" out",), _PARTICLE_OUT, r"\1"),  # "figure out why my internet drops", "the tech came out": no opting out
    (("keep", "sigue "), _KEEPS_FAILING, ""),  # "internet keeps dropping", "se sigue cayendo": a fault, nothing kept
)


def normalize(text: str) -> str:
    """Lower case, accents and apostrophe variants folded, "n't" split off, every number is "0"."""
    if "si " in text or "Si " in text or "SI " in text:
        text = _SI_IF.sub("sicond ", _SI_POLITE.sub("sipolite ", text))  # before folding: only the unaccented "si"
    text = fold(text)  # the folding the safety net reads too (classify.fold)
    for needs, pattern, replacement in _REWRITES:
        for part in needs:  # most text holds none of what the pattern needs (a loop: any() costs 3x)
            if part in text:
                text = pattern.sub(replacement, text)
                break
    return DIGITS.sub("0", text)


# What words mean for this task. A word maps to one concept; _PREFIXES catch inflected forms.
_LEXICON = {
    "neg": "not no never nor neither nunca ni jamas nope nah sin without nada ningun ninguna ninguno nobody nadie",
    "stop": "stop stopped stopping quit cease refrain discontinue halt enough basta alto paren parar pare dejen dejar deje "
            "avoid terminate end restrict restricted restrinjan restringir limit limiten revoke revoco revocar withdraw withdrawing withdrawn withdrawal retiro retirar pull pulling disable "
            "desactiven desactivar block bloqueen bloquear suspend cancel cancelen cancelar cancela off "
            "cancelled suspended blocked revocado revocada retirado retirada cancelado cancelada suspendido "
            "suspendida bloqueado bloqueada restringido restringida withhold withholding withheld blocking "
            "suppress suppressing suppressed anulen anular anule "
            # Spain's vosotros ("que dejéis de mandarme publicidad"), and abstaining ("que se abstengan de utilizar")
            "dejeis dejad parad abstengan abstenerse abstener abstain abstaining",
    "remove": "opt-out lift remove removed delete erase wipe exclude excluded unsubscribe unsubscribed unsub unenroll baja out "
              "quitar quiten quitenme quitame saquen saquenme sacar borren borrenme borrar eliminen eliminar "
              "salir fuera optout eliminado eliminada borrado borrada levanten levantar "
              "quitad quitadme sacad sacadme borrad borradme eliminad excluidme",
    "add": "opt-in dnmjoin activen enable add include included enroll subscribe resubscribe re-subscribe alta agreguen agregar agreguenme "
           "suscribanme suscribirme sign signup join reinstate reenroll re-enroll optin "
           "participate participating participar",
    "again": "again back bak anymore resume restore reactivate re-enable reenable return volver vuelvan vuelvo nuevo "
             "otra reanuden restablezcan reactiven mistake mistakenly accidentally accident "
             "error equivoque equivocado previous earlier before antes",
    # setting a request aside: "ignore my previous opt-out request", "undo the opt-out", "olviden mi baja"
    "void": "undo reverse revert ignore ignoren ignorar disregard forget olviden olvidar olvida rescind rescindan void voided "
            "olvidenlo olvidenla olvidalo olvidala olvidelo olvidela ignorenlo ignorenla "
            "retract deshacer deshagan reviertan revertir "
            "replaces supersedes overrides reemplaza sustituye",  # "this replaces my previous instruction restricting such use"
    "consent": "consent consents permission approval approve approved authorize authorise authorized allow "
               "allowing agree agreed accept accepted granted permit fine okay ok autorizo autorizar "
               "autorizamos autorizacion permiso consentimiento acepto aceptar aceptamos apruebo aprobacion "
               "acuerdo otorgo concedido",
    "refuse": "nothanks deny denied decline declined refuse refused object reject rechazo rechazar niego opongo "
              "prohibo denying declining refusing objecting rejecting dey",  # "I dey consent": a typed "deny"
    "want": "want wants wish like prefer would desire love quiero deseo queremos quisiera desea quiere need needs "
            "solicito solicitamos "  # "I request", not a typo of "solicit"
            "necesito necesita necesitamos",
    "mkt": "marketing market marketed ads ad advertising advertise advertisement promos promo promotions promotion "
           "promotional offers offer deals deal sales sell selling upsell upsells solicit targeted campaigns "
           "publicidad promociones promocion ofertas oferta mercadeo comerciales comercial ventas venderme vender "
           "anuncios",
    "data": "data info information cpni records details usage history datos informacion registros location "
            "ubicacion consumo historial",
    "use": "use using used share sharing usen usar utilicen utilizar uso compartan compartir vendan mining useis usad "
           "profiling tracking disclose",
    "question": "what why how which who when whether cual quien cuando donde where explain mean significa "
                "explicar explicarme expliquen expliquenme explique expliqueme "
                "understand entiendo idea sure seguro decide think pensar",
    "support": "bill billing charge charged charges fee fees payment pay paid refund internet wifi wi-fi router "
               "autopago tono nationalregistry "
               "modem signal outage contract plan upgrade factura cobro cobraron cargo pago pague reembolso senal "
               "servicio contrato technician tecnico voicemail password contrasena pin sim app store tienda "
               "repair insurance battery screen pantalla line linea phone telefono celular cell 0g activate activar "
               "caller installation instalacion picture fotos iphone android samsung unlock desbloquear roaming "
               "speed slow lento down caido dropped drops connect conecta error hotspot tv cable channels canales "
               "address direccion autopay statement statements invoice receipt recibo late overdue debo owe "
               "credit credito rebate trade-in cancel-service port transfer order pedido delivery outage falla "
               "technical support soporte tecnica repair reparar ticket appointment cita user usuario usuaria "
               "authorizeduser cut cortaron disconnected desconectaron reconnect reconectar balance saldo fraud "
               "fraude fraudulent fraudulenta stolen robada robado theft robo hacked hackeado ported portaron alert "
               "alerts alertas printed impresa impreso paper papel protection proteccion service services servicios feature "
               "features add-on addon locator funcion nollega usedup pagar pagando pagado pagamos broken blockcaller "
               "addservice notification notifications notificaciones reminder reminders warning warnings "
               "recordatorio recordatorios",

    "spam": "click clic here aqui win won winner prize premio free gratis verify verifique link enlace urgent "
            "claim congratulations felicidades limited newsletter boletin sale shop survey encuesta webinar trial "
            "exclusive exclusivo discount descuento save ahorre lottery loteria crypto investment inversion "
            "guaranteed garantizadas package paquete refinance mortgage warranty singles hiring resume curriculum "
            "cv position puesto job trabajo invoice vendor proposal sponsor vacante vacancy",
    "yes": "yes si claro absolutely yeah yep",
    "send": "send sending sent manden mandar mandarme mandenme envien enviar enviarme enviando contact contacting "
            "call calling calls llamen llamar llamadas email emailing emails texting texts correos mensajes mandeis",
    "keep": "keep keeping continue continuing sigan seguir sigue mantener mantengan stay quedarme",
    "give": "give giving doy damos otorgo otorgar grant granting",
    "objection": "problem problema problemas mind molesta importa objection objections inconveniente "
                 "denial refusal negativa objecion oposicion",  # "withdraw that denial", "retiro mi negativa", "anular mi oposición"
    "dnm": "dnmlist suppression",
    "cond": "unless only except excepto salvo solo solamente provided mientras partial parcial instead aslongas if sicond segun "
            "depending depends depende assuming suponiendo",
    "footer": "footercommand",
    "outstate": "exclusion restriction restrictions restriccion bloqueo",
    "hedge": "probably maybe perhaps might possibly thinking considering contemplating eventually someday quizas "
             "quiza talvez puedeque once later proximo probablemente posiblemente pensando considerando",
}
_PREFIXES = (("exclu", "remove"), ("inclu", "add"), ("autoriz", "consent"), ("consent", "consent"),
             ("permi", "consent"), ("acept", "consent"), ("aprob", "consent"), ("aprueb", "consent"),
             ("public", "mkt"), ("promo", "mkt"), ("ofert", "mkt"), ("mercad", "mkt"), ("market", "mkt"),
             ("advert", "mkt"), ("comercializ", "mkt"), ("cobr", "support"), ("unsub", "remove"), ("suscri", "add"),
             ("subscri", "add"), ("factur", "support"), ("desuscri", "remove"), ("desinscri", "remove"),
             # Spanish verbs with their pronouns attached ("quítenla", "retiren", "bórrenlo", "revoquen")
             ("retir", "stop"), ("revoc", "stop"), ("revok", "stop"), ("revoqu", "stop"), ("quiten", "remove"),
             ("borren", "remove"), ("eliminen", "remove"), ("saquen", "remove"),
             # stems of the words above in other forms, so that a form no training mail holds still reads as its
             # concept ("restauren", "reactivate", "desactiven", "agreeing", "utilizando", "llamadas")
             ("restaur", "again"), ("restabl", "again"), ("reactiv", "again"), ("reanud", "again"), ("reinstat", "add"),
             ("reinscri", "add"), ("reincorpor", "add"), ("enrol", "add"), ("inscri", "add"), ("desactiv", "stop"),
             ("suspend", "stop"), ("restring", "stop"), ("restrinj", "stop"), ("restrict", "stop"),
             ("discontinu", "stop"), ("withdr", "stop"), ("elimin", "remove"), ("unenrol", "remove"), ("agree", "consent"),
             ("allow", "consent"), ("approv", "consent"), ("consien", "consent"), ("consint", "consent"),
             ("rechaz", "refuse"), ("declin", "refuse"), ("refus", "refuse"), ("prohib", "refuse"), ("utiliz", "use"),
             ("compart", "use"), ("llamad", "send"), ("llamen", "send"), ("llamar", "send"),
             ("enviar", "send"), ("envien", "send"), ("anunci", "mkt"), ("telemark", "mkt"))
_CONCEPT = {word: concept for concept, words in reversed(_LEXICON.items()) for word in words.split()}
_NEGATIONS = frozenset(_LEXICON["neg"].split())
_SCOPE_BREAKS = frozenset("but pero however sino aunque although though also tambien and y".split())
_DETERMINERS = frozenset("my the your this that previous earlier prior last mi la el su".split())
# ... and "la baja" that something is said of ("¿La baja es permanente?", "la baja afecta mi plan?"): the opt-out, a thing
_SAID_OF_A_THING = frozenset(("es", "seria", "significa", "aplica", "incluye", "afecta", "dura", "tiene", "cuesta", "quita"))
_REGRETTED = frozenset(("lo", "arrepenti", "arrepentido", "arrepentida", "arrepiento"))  # "lo de la baja", "me arrepentí de la baja"
_NEGATION_SCOPE = 6  # words after a negation that it governs
_FIRST_PERSON_ABILITY = frozenset(("puedo", "podemos", "pude", "pudimos"))
# what refuses marketing however it is worded: a stop or remove word, a refusal, "no autorizo", "don't use
# my data", "don't send", "no promos"
_REFUSALS = frozenset(("c_stop", "c_remove", "c_refuse", "c_nconsent", "c_nuse", "c_nsend", "c_nmkt"))
# ... and, for concepts() (the names without "c_"), the list or the state named beside them
_REFUSED = frozenset(c.removeprefix("c_") for c in _REFUSALS) | {"dnm", "outstate"}
_SET_ASIDE = frozenset(("that", "it", "this", "eso", "esto"))  # "scratch that", "forget it", "olviden eso"
# A negated negative ("do not exclude me from offers", "no objection to you using my data") is where the
# negation stops: what follows is wanted, so it is not marked negated.
_NEGATIVE_VERBS = frozenset({"stop", "remove", "refuse", "objection"})
_PAST_AUXILIARIES = frozenset(("did", "had", "has", "have"))
_PAST_FORMS = ("ed", "aron", "ieron")  # "financed", "sacaron", "abrieron"
_PAST_CONSENT = frozenset(("acepte", "aprobe", "consenti", "permiti"))  # "nunca acepté", accents folded
_WORD_OR_MARK = re.compile(r"[a-z]+(?:-[a-z]+)?|[?\u00bf.!,;:\n]")
# A clause that starts "should I / do I / is my / would opting ..." asks something (typed questions often
# lose their "?"); "can you / would you / do not" is a request, not a question.
_AUXILIARIES = frozenset("should would could can do does did is are am was will have has".split())
_NOT_A_QUESTION_AFTER = frozenset("you u not no please pls kindly".split())
_UNDOING = frozenset(("stop", "remove", "nstop", "nremove"))  # ... the verbs of a reversal
_CLAUSE_ENDS = frozenset(("|", "q"))  # what ends a clause in concepts()' sequence
_PRONOUNS = ("la", "lo", "las", "los")  # "quítenla", "bórrenlo": the verb's object, named before
_OPT_OBJECTS = frozenset(("me", "us", "him", "her", "them", "it"))  # "opt me in", like "opt me out"
_CLAUSE_START = frozenset(("", "?", "\u00bf", ".", "!", ";", ":", ",", "\n"))
_LEADING_CONJUNCTIONS = frozenset(("or", "and", "but", "so", "also", "then"))  # "Or would that affect my contract"


# Typos: a lexicon word of 5+ letters with one letter deleted still names its concept, and so does
# an unknown word that becomes a lexicon word (or one of those) when one of its letters is deleted.
_FUZZY: dict[str, str] = {}
for _word, _c in _CONCEPT.items():
    if len(_word) >= 5 and "-" not in _word:
        for _i in range(len(_word)):
            _FUZZY.setdefault(_word[:_i] + _word[_i + 1:], _c)


_CLITIC = re.compile(r"([a-z]{2,}(?:ar|er|ir))(?:me|nos|te|lo|la|los|las|le|les|se)")
_NO_CONCEPT = frozenset({"opting", "opted", "opts",  # "opting" is not a typo of "optin": the next word says
                         "including", "incluyendo"})  # a preposition ("all lines, including my wife's"), not "include me"
# Common words one letter away from a lexicon word, which customers write as themselves: "Thank you" is
# not "think", "James" not "jamás", "padre" and "parte" not "pare", "usted" not "usen".
_REAL_WORDS = frozenset("thank there james every padre parte parent forgot usted sobre desde cause after thing "
                        "newer nueve nieve unica jamal "  # not "never", "nunca", "jamás"
                        "great chance world stage "
                        # first and last names met in signatures ("Nadia" is not "nada", "Chase" not "cease")
                        "denise linda patel charles emily carol heather olivia megan billy albert nadia chase ponce "
                        # "I can provide the POA document" is not "provided (that)", a condition
                        "provide provides providing "
                        # "either you lost it or you ignored it": a complaint, not "ignore my request"
                        "ignored olvidado olvidada "
                        # "ya les dije dos veces y siguen": they go on (a complaint), not "sigan" (keep them coming)
                        "siguen "
                        # "either way" is not "neither", "la factura salió por $148" not "salvo" (except), "joint venture" not "join"
                        "either salio joint "
                        # "Second thing, ...", "the second said it was my router" is not "sicond" (if); "Javier (el nieto)"
                        # is not "niego" (I refuse)
                        "second seconds secondly nieto nieta nietos nietas "
                        # "Greenleaf Family Dental" is not "denial"; "en mi posición" is not "oposición" (an objection)
                        "dental posicion posiciones "
                        # "Efraín Mendoza" signs a letter: not "refrain" (stop)
                        "efrain "
                        # "I am retired and I watch every dollar" is not "retire" (withdraw); "Nathan Greer" is not "agree"
                        "retired retiree retirees retirement greer".split())


@functools.lru_cache(maxsize=1 << 16)  # the fuzzy look-up tries every deletion: words repeat, remember them
def _concept(word: str) -> str | None:
    if word in _NO_CONCEPT or word in _REAL_WORDS:
        return None
    concept = _CONCEPT.get(word)
    if concept is None and len(word) >= 5:
        concept = next((c for prefix, c in _PREFIXES if word.startswith(prefix)), None)
        if concept is None:
            # a Spanish infinitive with its pronoun attached: "salirme", "sacarnos", "borrarlos"
            m = _CLITIC.fullmatch(word)
            concept = _CONCEPT.get(m.group(1)) if m else None
        if concept is None:
            # an extra letter anywhere, or a letter replaced anywhere but first ("lasta" is not "basta")
            concept = _FUZZY.get(word) or next(
                (c for i in range(len(word)) for d in (word[:i] + word[i + 1:],)
                 for c in (_CONCEPT.get(d) or (_FUZZY.get(d) if i else None),) if c), None)
    return concept


_NOT_THE_VERB = frozenset(("qstart", "mkt", "data", "nmkt", "ndata", "again"))  # what stands between verb and object
_PARTICIPLES = ("ed", "ado", "ados", "ada", "adas", "ido", "idos", "ida", "idas")  # "excluded", "excluidos"


# "... or would that affect my contract", "... or does that cancel my discount": a question typed after "or"
# and a word pointing back at the request (c_qstart, as at the start of a clause)
_BACK_REFERENCES = frozenset(("that", "this", "it", "i", "we"))
# "end my participation", "cancel my subscription", "cancelen mi suscripción": a noun of joining, the object
# of a stop or remove verb, joins nothing
_ADD_NOUNS = ("tion", "cion", "sion", "ment")
# the nouns of an objection ("registren mi negativa al uso de mis datos", "my refusal"), not "problem" or "mind"
_OBJECTION_NOUNS = ("objec", "negativ", "denial", "refusal", "oposic")


def _reverses(seq: list[str], concept: str, word: str, previous: str, stated: bool, following: str) -> bool:
    """Undoing a restriction is asking for marketing: "take me off the suppression list", "cancel my
    opt-out", "quiten la restricción", "stop excluding me", "dejen de bloquear", "withdraw my
    objection": a stop/remove concept earlier in the clause, then the list, the opt-out state or an
    objection, or a second stop/remove as a gerund ("excluding") or an infinitive after "de" ("de
    excluirme"); or an objection, then a stop/remove ("my objection is withdrawn"); or a stop/remove
    that points back at the state or the list named earlier in the sentence (`stated`): "la
    restricción, quítenla", "the restriction, remove it"."""
    if stated and concept in ("stop", "remove") and (word.endswith(_PRONOUNS) or following == "it"):
        return True
    if concept in ("use", "send") and [c for c in reversed(seq) if c not in _NOT_THE_VERB][:2] == ["neg", "void"]:
        # setting aside a refusal: "ignoren mi solicitud de no usar mis datos", "forget my request to not contact me"
        return True
    if concept not in ("dnm", "outstate", "stop", "remove", "objection"):
        return False
    # the request concept before, same clause ("lift the marketing restriction": what is lifted between;
    # "cancel my previous opt-out": when it was)
    earlier = next((c for c in reversed(seq) if c not in _NOT_THE_VERB), "|")
    if earlier == "void" and concept in ("dnm", "outstate", "stop", "remove"):
        # "ignore my previous opt-out request", "undo the opt-out", "olviden mi baja"
        return True
    if earlier == "nkeep" or (earlier == "nwant" and concept in ("dnm", "outstate")):
        # no longer needing the restriction: "ya no necesito la restricción", "no need to keep me opted
        # out", "I don't want to stay on the do-not-market list" (but "I don't want to opt out" is not)
        return True
    if concept in ("stop", "remove") and earlier == "objection":
        # "my objection to the promos is withdrawn", "mi objeción queda retirada" (not a refusal: "no
        # thanks stop sending me promos" is an opt-out)
        return True
    if earlier.lstrip("n") not in ("stop", "remove"):
        return False
    # "withdraw my objection"; "take me off the excluded group", "sáquenme del grupo de clientes excluidos"
    return concept in ("dnm", "outstate", "objection") or word.endswith("ing") or previous == "de" or (
        concept == "remove" and word.endswith(_PARTICIPLES))


def _settle(seq: list[str], objections: list[int]) -> None:
    """What a clause means once it is read whole. Where nothing in it undoes a restriction, an objection
    is a refusal ("Objection to CPNI use", not "withdraw my objection") and a negated inclusion is an
    exclusion ("no me incluyan en promociones", "I don't want to be included in your offers")."""
    start = 0
    for end in [*(i for i, c in enumerate(seq) if c in _CLAUSE_ENDS), len(seq)]:
        if "reverse" not in seq[start:end]:
            for i in range(start, end):
                if seq[i] == "nadd":
                    seq[i] = "remove"
                elif i in objections:
                    seq[i] = "refuse"
        start = end + 1


def _told_before(words: list[str], i: int) -> bool:
    """A verb in a past form ("financed", "sacaron") is written before words[i] in its sentence."""
    for word in reversed(words[:i]):
        if word in "?\u00bf.!;:\n":
            return False
        if len(word) > 4 and word.endswith(_PAST_FORMS):
            return True
    return False


def concepts(normalized: str) -> list[str]:
    """Concept tokens of normalized text: c_<concept>, c_n<concept> inside a negation, and pairs."""
    seq: list[str] = []  # concepts in order; "|" ends a clause
    scope, previous, before = 0, "", ""
    negated_past = False  # the negation follows "did / had / has / have"
    stated = False  # the opt-out state or the list was named in this sentence
    refused = False  # ... or a refusal was written in it ("keeping my info out of promotions")
    objections: list[int] = []  # where in seq the word "objection" itself stands, not negated
    words = _WORD_OR_MARK.findall(normalized)
    for i, word in enumerate(words):
        if word in _AUXILIARIES and (previous in _CLAUSE_START or (
                previous in _LEADING_CONJUNCTIONS and before in _CLAUSE_START) or (
                previous == "or" and i + 1 < len(words) and words[i + 1] in _BACK_REFERENCES)) and i + 1 < len(words) \
                and words[i + 1] not in _NOT_A_QUESTION_AFTER:
            seq.append("qstart")
        if (word in ("out", "opt-out", "optout") and (previous in _DETERMINERS or (
                word == "out" and previous == "opt" and before in _DETERMINERS))) or (
                word == "baja" and previous in ("mi", "su")) or (
                word == "baja" and previous in ("la", "esa", "esta") and (_concept(before) in ("stop", "remove", "void") or (
                    before == "de" and i >= 3 and words[i - 3] in _REGRETTED) or (
                    i + 1 < len(words) and words[i + 1] in _SAID_OF_A_THING))):
            # "my opt-out", "mi baja", "quiten la baja", "me arrepentí de lo de la baja", "¿la baja es permanente?": the
            # state, not the verb
            before, previous, word = previous, word, "exclusion"
        else:
            before, previous, word = previous, word, (
                "optin" if word == "in" and (previous in ("opt", "back", "bak", "bck", "opted", "opting") or (
                    before == "opt" and previous in _OPT_OBJECTS)) else word)
        if len(word) == 1 and word in "?\u00bf.!,;:\n":
            scope = 0
            stated = stated and word == ","  # a restriction named earlier in the sentence
            refused = refused and word == ","
            seq.append("q" if word in "?\u00bf" else "|")
        elif word in _SCOPE_BREAKS or (word == "sin" and i + 1 < len(words) and words[i + 1] == "embargo"):
            scope = 0  # ... "sin embargo": however
            seq.append("|")
        elif (word in _NEGATIONS or (len(word) >= 5 and _concept(word) == "neg")) and not (
                (before == "can" and i > 1 and words[i - 2] in ("i", "we")) or (
                i + 1 < len(words) and words[i + 1] in _FIRST_PERSON_ABILITY)):
            # (a negation typed wrong is one: "withut my consent", "nevver", "ninggun"; "I can not send
            # pictures", "no puedo mandar mensajes con fotos": what the sender cannot do is a support
            # question, not a refusal; "you can not use my data" still refuses)
            scope = _NEGATION_SCOPE
            # (previous is this word by now) "without my consent" after "financed": what was done, told
            without = word in ("without", "sin") or (word not in _NEGATIONS and word.startswith("wit"))
            negated_past = before in _PAST_AUXILIARIES or (without and _told_before(words, i))
            seq.append("neg")
        else:
            concept = _concept(word)
            # "no longer" is one negation (`before` is the word before this one by now)
            if not (word == "longer" and before in _NEGATIONS):
                scope = max(0, scope - 1)
            if concept:
                if scope and concept == "consent" and (negated_past or word.endswith("ed") or word in _PAST_CONSENT):
                    # "I didn't authorize this", "nunca acepté eso": a complaint about what happened,
                    # not the refusal "I do not authorize the use of my data"
                    seq.append("past")
                following = words[i + 1] if i + 1 < len(words) else ""
                reverse = _reverses(seq, concept, word, before, stated, following) or (
                    # a refusal set aside after it is written: "whatever I said about keeping my info out
                    # of promotions, scratch that", "no marketing, forget it"
                    concept == "void" and refused and (following in _SET_ASIDE or word.endswith(_PRONOUNS)))
                if reverse:
                    # the stop or remove verb that undoes the restriction asks for no stop: it is the reversal
                    # (within the clause: "|" and "q" end one, so "Stop? My objection is withdrawn" keeps its stop)
                    verb = next((k for k in range(len(seq) - 1, -1, -1) if seq[k] in _UNDOING or seq[k] in _CLAUSE_ENDS), None)
                    if verb is not None and seq[verb] in _UNDOING:
                        del seq[verb]
                    seq.append("reverse")
                if concept in ("outstate", "dnm"):
                    stated = True
                if reverse and concept in _UNDOING:
                    pass  # the verb of the reversal is the reversal, appended above
                elif scope and concept in ("objection", "refuse"):
                    seq.append("consent")  # "I don't object", "no me opongo", "I don't mind": consent given
                else:
                    if concept == "objection" and not scope and word.startswith(_OBJECTION_NOUNS):
                        objections.append(len(seq))  # the noun itself, not "problem" or "mind"
                    if not scope and concept in ("outstate", "dnm") and seq and seq[-1] in ("add", "again"):
                        # "reinstate my opt-out", "restore my exclusion", "put me back on the do-not-market list": the
                        # restriction again, not marketing again
                        seq[-1] = "keep" if concept == "outstate" else "add"
                    if not scope and concept in ("add", "consent"):
                        verb = next((k for k in range(len(seq) - 1, -1, -1) if seq[k] not in _NOT_THE_VERB), None)
                        said = seq[verb] if verb is not None else ""
                        if concept == "add" and said in ("stop", "remove") and word.endswith(_ADD_NOUNS):
                            continue  # "end my participation in marketing": the stop verb says it all
                        if concept == "consent" and said == "void":
                            # setting a consent aside withdraws it ("I retract my consent", "me retracto de la
                            # autorización", "rescind my permission"); setting an opt-out aside stays a reversal
                            seq[verb] = "stop"
                    seq.append(("n" + concept) if scope and concept != "footer" else concept)  # a footer is never negated
                    refused = refused or seq[-1] in _REFUSED
                if scope and concept in _NEGATIVE_VERBS:
                    scope = 0  # "no longer object to marketing use": the negation ends at the negative verb
                if word == "anymore" and before in _NEGATIONS:
                    scope = 0  # "ok with it before not anymore restrict my info": about what came before
    _settle(seq, objections)
    tokens = ["c_" + c for c in seq if c != "|"]
    for prev, cur in zip(seq, seq[1:]):
        if prev != "|" and cur != "|":
            tokens.append(f"c_{prev}_{cur}")
    return tokens


def features(model_text: str) -> str:
    """What the spaCy pipeline reads: the normalized text, then its concept tokens."""
    memo = getattr(_READ_THIS_MESSAGE, "features", None)
    if memo is not None and (known := memo.get(model_text)) is not None:
        return known
    text = normalize(model_text)
    if _THREAT.search(text):
        text = _defuse_threats(text)
    out = text + "\n\n" + " ".join(concepts(text))
    if memo is not None:
        memo[model_text] = out
    return out


# The checks of one classify() call read some texts more than once (a clause that is also a sentence,
# the whole text without a subject): each is made into features once per message. Per thread (the
# daemon classifies off the event loop) and dropped when the message is done, so nothing is kept from
# one message to the next.
_READ_THIS_MESSAGE = threading.local()


_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")  # a word as concepts() reads it


def _unconditional(m: re.Match[str]) -> str:
    return "ifthreat" if _concept(m.group()) == "cond" else m.group()


def _defuse_threats(text: str) -> str:
    """A condition that only threatens ("si me vuelven a llamar voy a poner una queja con la FCC", "if you
    call again I'm switching carriers", "unless you stop calling I'll report you"), in a sentence with no
    word of a request, sets no condition on the request beside it: each of its `cond` words becomes
    "ifthreat" (no concept), for the model as for the rules (_sets_a_condition reads the features)."""
    parts = _SENTENCE_PARTS.split(text)
    for i in range(0, len(parts), 2):
        part = parts[i]
        if _THREAT.search(part):
            said = set(concepts(part))
            if said & {"c_cond", "c_ncond"} and not said & _ASKING_NOW:
                parts[i] = _WORD.sub(_unconditional, part)
    return "".join(parts)


_STOP_CONCEPTS = frozenset({"c_stop", "c_remove"})
_STOP_WORDS = _REFUSALS | {"c_dnm", "c_outstate", "c_nwant", "c_objection"}  # what a stop request said now holds
_GO_ON_CONCEPTS = frozenset({"c_add", "c_again", "c_consent", "c_want", "c_give", "c_yes", "c_keep", "c_send"})


def _concept_words(text_features: str) -> list[str]:
    """The concept tokens of features(), in order, without the pairs ("c_stop", not "c_stop_mkt")."""
    return [t for t in text_features.rsplit("\n\n", 1)[-1].split() if t.count("_") == 1]


def _asks_to_stop(text_features: str) -> bool:
    """The last request word outside any negation is a stop or remove word, and nothing reverses a
    restriction ("stop excluding me", "cancel my opt-out"): an opt-in answer for such a message is for
    a person, never automatic ("i was ok with the offers before not anymore restrict my info"; but "I
    opted out by mistake, opt me back in" ends on the opt-in)."""
    singles = _concept_words(text_features)
    if "c_reverse" in singles:
        return False
    last_stop = max((i for i, t in enumerate(singles) if t in _STOP_CONCEPTS), default=-1)
    # (the consent a stop or remove word takes away is the object of the stop: "Please remove my consent for using
    # my account info for offers", "revoke my consent")
    last_go_on = max((i for i, t in enumerate(singles) if t in _GO_ON_CONCEPTS
                      and not (t == "c_consent" and i and singles[i - 1] in _STOP_CONCEPTS)), default=-1)
    return last_stop > last_go_on


# A change of mind ("Then again, ...", "or actually", "o mejor", "pensándolo bien"): what follows the last
# one decides nothing when it asks the other way ("Stop the ads. Then again, reinstate my consent")
# ("or actually" typed wrong too: "or actuaely nope")
_CHANGE_OF_MIND = re.compile(r"\b(?:then again|or act[a-z]{1,4}ly|actually,? no|on second thought|or maybe|or rather|o mejor|"
                             r"mejor no|pensandolo bien|o talvez|o quizas?|bueno,? no)\b")
_GRANTING = frozenset(("c_add", "c_consent", "c_again", "c_reverse", "c_give", "c_use", "c_yes"))


def _changes_mind(normalized: str, best: str) -> bool:
    """After the last change-of-mind marker, the customer asks the other way than `best`: for an opt-out,
    a grant, a restored consent or a use of data with no refusal ("o mejor ... ya pueden usar mis datos
    para promociones"); for an opt-in, a refusal with no grant ("you can market to me or actually please
    opt out my account")."""
    found = None
    for found in _CHANGE_OF_MIND.finditer(normalized):
        pass
    if found is None:
        return False
    after = set(c for c in concepts(normalized[found.end():]) if c.count("_") == 1)
    if best == Intent.OPT_OUT.value:
        return bool(after & _GRANTING) and not after & _REFUSALS
    return bool(after & _REFUSALS) and not after & (_GRANTING - {"c_use", "c_yes", "c_again"})  # ("... anymore")


# words of a job application ("resume" is normalized to "cv", as "hoja de vida" is): two of them make one
_JOB_WORDS = frozenset("cv curriculum position puesto vacante vacancy vacancies hiring interview entrevista careers "
                       "empleo candidate candidato candidata applicant".split())


def _applies_for_a_job(normalized: str) -> bool:
    return len(_JOB_WORDS.intersection(_A_WORD.findall(normalized))) >= 2


def _refuses_use(text_features: str) -> bool:
    """A negated use of data, contact or marketing ("no quiero que usen mis datos", "don't send me
    offers", "no promos"), and nothing that undoes a restriction ("ignoren mi solicitud de no usar mis
    datos" is a reversal). A negated objection ends its negation: "no tengo problema con que usen mis
    datos" holds no negated use."""
    singles = set(_concept_words(text_features))
    return bool(singles & {"c_nuse", "c_nsend", "c_nmkt"}) and "c_reverse" not in singles


def _only_a_negated_removal(text_features: str) -> bool:
    """The stop and remove words of the message are all negated ("don't opt me out")."""
    singles = set(_concept_words(text_features))
    return bool(singles & {"c_nstop", "c_nremove"}) and not singles & _REFUSALS


_TOPICS = frozenset(("c_data", "c_support", "c_spam", "c_mkt"))
# Unrelated mail with a clause whose words ask about marketing ("How much is a new line? I want you to
# stop looking at my calls to sell me plans", "no promotional calls anymore please", "quit hiding the
# deals"): a stop, remove, refusal, consent or reversal word, not negated, beside a marketing word, a
# negated marketing word ("no promos"), or a negated use of data ("que no usen mi CPNI"). A person reads
# it instead of it being ignored, unless a mailing's footer command says whose words these are ("reply
# STOP").
_ASKING = frozenset(("c_stop", "c_remove", "c_refuse", "c_consent", "c_reverse", "c_add", "c_dnm"))
_FOOTER = re.compile(r"(?<!\S)c_footer(?!\S)")
# ... or a clause of a few words that is only a stop, remove or refusal word ("Me excluyo.", "Unsubscribe.",
# "Decline please."), the answer to the notice, whatever the rest of the mail is about ("Remove my
# ex-husband from my account" is longer: a support request)
_BARE_REQUESTS = ({"c_stop"}, {"c_remove"}, {"c_refuse"})
# ... or a message that says not to remove the sender and names what they want kept ("no me den de baja,
# quiero los descuentos"; but "I don't want to unsubscribe, I need help with my voicemail" is support)
_WANTS_MARKETING = frozenset(("c_mkt", "c_spam", "c_consent", "c_keep", "c_add", "c_again"))
BARE_REQUEST_WORDS = 3
# ... or the answer to the notice given in so many words, after something else ("me piden mi nip es verdad
# mi respuesta es sí"): a "yes" alone reads as a doubt, but the answer is the customer's
_ANSWERS_YES = re.compile(r"\b(?:mi respuesta|my (?:answer|response|reply))\b[^.!?\n]{0,30}?\b(?:es|is)(?: que)? (?:si|yes|sicond|sipolite)\b")


def _names_a_topic_only(text_features: str) -> bool:
    return all(t in _TOPICS for t in _concept_words(text_features))


_THREAT = re.compile(r"\b(?:fcc|queja|complaint|complain|report|reportar|denuncia|demanda|demandar|sue|lawyer|abogado|"
                     r"attorney|switch(?:ing)?|cambio de compania|me cambio|cambiarme|switch carriers|leave you|"
                     r"me voy con)\b")
_ASKING_NOW = _REFUSALS | {"c_consent", "c_add", "c_dnm", "c_outstate", "c_nwant"}  # a request, either way
_SENTENCES = re.compile(r"[.!?;\n]+")
_SENTENCE_PARTS = re.compile(r"([.!?;\n]+)")  # ... kept, to join the sentences again


# The writer says the message asks nothing ("I'm not asking anything of your marketing department", "this is
# not an opt-out request", "no les estoy pidiendo nada")
_ASKS_NOTHING = re.compile(r"\b(?:not|never) (?:asking|requesting) (?:for )?(?:anything|any)\b|\b(?:this|that|it) is not (?:an? )?(?:opt-?out )?request\b"
                           r"|\bno (?:les |le )?(?:estoy pidiendo|pido|solicito) nada\b")


def _only_assents(text: str) -> bool:
    """What the customer wrote is only a "yes" ("Yes" under a forwarded notice; "change my answer to yes"
    names what it changes) or only an "OK" ("Fine.", "Okay thanks", "Está bien"), beside lines that say
    nothing (a greeting, an account number, a name): it grants nothing it names, however sure the model is
    of an opt-in."""
    singles = set(_concept_words(features(model_input("", text))))
    if singles and singles <= _YES_ONLY and not _CHANGED_TO_YES.search(normalize(text)):
        return True
    # each part's words as features() normalized them (a threat's "if" made "ifthreat" is no OK either way)
    read = [features(part) for part in _CLAUSES.split(within_reading(text)) if _A_WORD.search(part)]
    said = [f for f in read if not f.endswith("\n\n")] or read  # the parts with a concept, else all
    return bool(said) and all(set(_WORD.findall(f.rsplit("\n\n", 1)[0])) <= _BARE_ACCEPT for f in said)


_WHETHER_REACH = 8  # words from "whether" to the stop word it asks about
_QUESTION_NOUNS = frozenset(("question", "questions", "pregunta", "preguntas", "duda", "dudas"))  # "Question about
_ABOUT = frozenset(("about", "regarding", "on", "sobre", "acerca"))  # CPNI opt-out for business account" (a subject)


def _asks_whether(normalized: str) -> bool:
    """Every sentence that holds a stop or remove word asks whether, before that word: "could you tell us whether
    an opt-out applies to all 12 lines", "I'd like to know if opting out changes my plan" (normalize() makes
    such an "if" "whether"): a question about the opt-out, not a request for it."""
    if "whether" not in normalized and not any(noun in normalized for noun in _QUESTION_NOUNS):
        return False  # (most opt-out answers: no sentence can ask whether)
    asked = False
    for sentence in _SENTENCES.split(normalized):
        words = _WORD_OR_MARK.findall(sentence)
        first = next((i for i, w in enumerate(words) if _concept(w) in ("stop", "remove", "refuse")), None)
        if first is None:
            continue
        at = max((i for i, w in enumerate(words[:first]) if w == "whether" or (
            w in _ABOUT and i and words[i - 1] in _QUESTION_NOUNS)), default=-1)
        if at < 0 or first - at > _WHETHER_REACH or any(w in _SCOPE_BREAKS or w in ",;:" for w in words[at:first]):
            return False  # "I don't know if you were part of the breach, but I withdraw my consent": a request
        asked = True
    return asked


# A question about where the account stands ("Please check whether I'm opted in", "can you confirm if my line is still
# opted out", "verifiquen si sigo inscrito"): the customer asks what the state is, not for a change
_ASKS_STATUS = re.compile(
    r"\b(?:check|verify|confirm|see|tell me|tell us|let me know|let us know|find out|know)\s+(?:whether|if)\s+(?:i'?m|i am|we'?re|"
    r"we are|i was|we were|(?:my|our|the|her|his) (?:account|line|number)s? (?:is|are|was)|(?:she|he)'?s|(?:she|he|it) is)\s+"
    r"(?:still |currently |already |now )?(?:opted|signed|enrolled|subscribed|unsubscribed|excluded|included|on|off)\b|"
    r"\b(?:verifiquen|verifique|confirmen|confirme|revisen|revise|diganme|digame|me dicen|me confirman)\s+si\s+"
    r"(?:estoy|sigo|estamos|seguimos|esta|sigue|mi cuenta esta|mi linea esta)\s+(?:todavia |aun |ya )?"
    r"(?:inscrit[oa]s?|suscrit[oa]s?|excluid[oa]s?|dad[oa]s? de (?:baja|alta)|en la lista)")


def _asks_its_status(text_features: str) -> bool:
    """The request words are all in a question about the account's state; nothing else asks for a change."""
    normalized = text_features.rsplit("\n\n", 1)[0]
    rest, asked = _ASKS_STATUS.subn(" . ", normalized)
    return bool(asked) and not set(concepts(rest)) & _ASKING_NOW


def _only_asks(text_features: str) -> bool:
    """What the customer wrote asks a question and holds no word of a request either way."""
    words = set(_concept_words(text_features))
    return bool(words & _ASKED) and not words & _ASKING_NOW


def _sets_a_condition(model_text: str, text_features: str) -> bool:
    """The message sets a condition or a limit on its request (a `cond` concept, a polite "if" aside), or
    asks for part of it."""
    if _KEEPS_PART.search(text_features) or _IN_AND_OUT.search(text_features):
        return True
    normalized = ""
    if _PARTIAL.search(text_features):
        normalized = normalize(model_text)
        if any(_PARTIAL.search(f) and set(_concept_words(f)) & _ASKS_FOR_PART
               for f in map(features, _SENTENCES.split(normalized))):
            # (a sentence that only tells the account, "cada uno tiene una línea de la cuenta empresarial", asks for no part)
            return True
    if not _CONDITION.search(text_features):
        return False
    # (a condition that only threatens is none: features() made it "ifthreat"; what is quoted inside a
    # sentence, "hey! you qualify", ends no sentence)
    said = QUOTED.sub("quote", _POLITE_IF.sub("polite", _ASIDE_IF.sub("aside", normalized or normalize(model_text))))
    # (a condition in a sentence that tells the past sets none on what is asked now: "Last month I opted back in because
    # the rep promised a "members only" deal", "Never got anything except more junk email")
    # ... unless the writer draws the conclusion in it ("un vendedor me dijo ... si darme de baja me quita el descuento
    # entonces no quiero darme de baja"): an "if ... then" is the writer's own condition, told or not
    return any(_CONDITION.search(f) for f in map(features, _SENTENCES.split(said)) if not _REPORTED.search(f)
               and not _LETTER_TELLS.search(f) and not _condition_aside(f)
               and (not _told(f.split("\n\n", 1)[0]) or _concludes(f.split("\n\n", 1)[0])))


_IF_THEN = re.compile(r"\b(?:if|sicond)\b[^.!?\n]{3,100}?\b(?:then|entonces)\b([^.!?\n]*)")


def _concludes(normalized: str) -> bool:
    """The sentence holds an "if ... then" whose "then" asks or refuses ("entonces no quiero darme de baja"), not a
    consequence told ("the rep said if I opt out then I lose the discount")."""
    m = _IF_THEN.search(normalized)
    return m is not None and bool(set(concepts(m.group(1))) & _ASKING_NOW)


# a sentence that asks for part holds one of these ("But not for my wife's line": its "not")
_ASKS_FOR_PART = _REQUEST_CONCEPTS - _ASKED | {"c_mkt", "c_nmkt", "c_spam", "c_neg", "c_cond", "c_ncond"}


def _condition_aside(sentence_features: str) -> bool:
    """A sentence whose condition is about something else: it turns to another topic ("Also our second line has
    had static, a tech needs to look at it")."""
    normalized = sentence_features.rsplit("\n\n", 1)[0]
    singles = set(_concept_words(sentence_features)) - {"c_cond", "c_ncond"}
    return _turns_to_another_topic(normalized, singles)


# What someone at the carrier or another person told the customer ("the rep said my account is flagged
# 'no marketing'", "la muchacha me dijo que como me había excluido no me mandan esas ofertas", "me
# explicó que no es que vendan los datos"): their words, reported, ask nothing of the customer's own.
# A part with a "please" of its own is a request, whoever is quoted in it, and so is what the account holder wants,
# relayed ("writing for my mom ... She says she wants to receive offers again").
_SOMEONE_SAID = re.compile(
    r"\b(?:(?:rep|representative|agent|associate|employee|clerk|cashier|guy|lady|woman|man|girl|someone|somebody|"
    r"they|he|she|staff|tech|technician|operator|supervisor|manager|advisor|service|support)\s+(?:\w+\s+){0,3}?"
    r"(?:said|says|told me|told us|tells me|explained|mentioned|informed me|informed us)|"
    r"(?:me|nos)\s+(?:dijo|dijeron|dice|dicen|explico|explicaron|comento|comentaron|informo|informaron|aclaro|aclararon))\b")
_OWN_REQUEST = re.compile(r"\b(?:please|pls|plz|kindly|por favor|porfa)\b|"
                          r"\b(?:she|he|they|ella|el|ellos) (?:wants|want|would like|quiere|quieren|desea|desean)\b|"
                          # the account holder's answer, relayed ("He says yes, you can use his account information")
                          r"\b(?:she|he|they) (?:says|say) (?:yes|ok|okay)\b|\b(?:ella|el|ellos) (?:dice|dicen) que si\b")


def _someone_said(normalized: str) -> bool:
    """The part reports what another person said, and asks nothing in its own words."""
    return bool(_SOMEONE_SAID.search(normalized)) and not _OWN_REQUEST.search(normalized)


def _told(normalized: str) -> bool:
    """The part tells what happened before or what someone else said: the story, not a request now."""
    return tells_the_past(normalized) or _someone_said(normalized)


# A question that complains ("Why are you still using my info?", "WHY DO I HAVE TO KEEP DOING THIS", "¿por qué siguen
# mandándome ofertas?"): no doubt beside an opt-out
_COMPLAINT_QUESTION = re.compile(r"\W*(?:why|por ?que)\b[^?\n]*?\b(?:still|keep|again|anymore|todavia|siguen|sigue|otra vez|"
                                 r"de nuevo)\b")
# A part that turns to another topic ("Also, quiten la garantía extendida de mi pedido", "Quick question, when
# does my contract end?", "One more thing: is this number really yours?"): it opens with such a marker, names
# support (a bill, a line, a device, the account) and no word of marketing, data, consent or doubt
_NEW_TOPIC = re.compile(r"\W*(?:and |oh,? )?(?:also|by the way|btw|separately|unrelated(?: to this)?|on (?:an|a different|another) "
                        r"(?:note|topic)|one more thing|another thing|(?:a |one )?quick question|p\.?\s?s\b|otra cosa|otra pregunta|"
                        r"aparte|ademas|tambien|por cierto|de paso|una pregunta)\b")
_OTHER_TOPIC_UNLESS = _said_or_negated("mkt", "data", "use", "spam", "consent", "refuse", "dnm", "outstate", "objection",
                                       "reverse", "cond", "hedge", "yes", "void", "add", "footer")


def _turns_to_another_topic(normalized: str, singles: set[str] | None = None) -> bool:
    if not _NEW_TOPIC.match(normalized):
        return False
    if singles is None:
        singles = {c for c in concepts(normalized) if c.count("_") == 1}
    return "c_support" in singles and not singles & _OTHER_TOPIC_UNLESS


# Who is writing for whom ("I'm typing this for my grandmother because she doesn't do email", "le escribo por mi
# abuela porque ella no sabe usar el email"): it introduces the writer and asks nothing, unless it names this
# mailbox's matter beyond using a computer or sending mail ("writing for my mother: opt her out")
_WRITING_FOR = re.compile(r"\b(?:writing|typing|emailing|escribo|escribiendo|escribe)\s+(?:this\s+|esto\s+)?(?:for|on behalf of|"
                          r"por|de parte de|en nombre de|para)\s+(?:my|mi)\b")
_NOT_THE_MATTER = frozenset(("c_use", "c_nuse"))


def _writes_for_someone(normalized: str, singles: set[str] | None = None) -> bool:
    if not _WRITING_FOR.search(normalized):
        return False
    if singles is None:
        singles = {c for c in concepts(normalized) if c.count("_") == 1}
    return not singles & (_MATTER - _NOT_THE_MATTER)


def _said_now(text: str, stops_told: bool = False) -> str:
    """What the customer wrote without the parts that tell what happened before (classify.tells_the_past):
    "Some time ago I requested that my information not be used for advertising" is the story. With
    stops_told, only such parts whose stop and remove words are all in a past form go ("me había
    borrado", "I opted out", "I unsubscribed"): "I was ok with the offers before, restrict my info"
    keeps its "restrict"."""
    parts = ((part, normalize(part)) for part in STORY_PARTS.split(text))
    kept = (part for part, folded in parts
            if not _someone_said(folded) and not (tells_the_past(folded) and (not stops_told or _stops_told(folded)))
            and not _turns_to_another_topic(folded) and not _writes_for_someone(folded))
    if stops_told:
        # ... and of a part kept, what a comma sets apart and tells with its stop words in the past: "Please turn it
        # back on, I opted out by mistake last year when I thought I was stopping junk mail"
        kept = (", ".join(bit for bit in STORY_OR_CLAUSE_PARTS.split(part) if not _stops_told_in(normalize(bit)))
                if "," in part else part for part in kept)
    return ". ".join(kept)


def _stops_told_in(normalized: str) -> bool:
    return tells_the_past(normalized) and _stops_told(normalized)


# "opted out", "me di de baja"; a word replied or texted ("my wife replied stop", "Mi hijo contestó BAJA")
_TOLD_BEFORE = frozenset(("opted", "di", "dio", "dimos", "dieron", "de", "replied", "texted", "typed", "answered", "respondi",
                          "respondio", "conteste", "contesto",
                          # a stop word after an auxiliary of the past ("when I thought I was stopping junk mail")
                          "was", "were"))


def _stops_told(normalized: str) -> bool:
    words = _WORD_OR_MARK.findall(normalized)
    return all(word.endswith(_PARTICIPLES) or (i and words[i - 1] in _TOLD_BEFORE)
               for i, word in enumerate(words) if _concept(word) in ("stop", "remove"))


def _clauses(text: str) -> list[str]:
    """The clauses of what the customer wrote, within what the model reads of it (classify.within_reading), each
    distinct one once (a long message repeating a sentence costs one document, not one per line)."""
    return list(dict.fromkeys(c for c in _CLAUSES.split(within_reading(text)) if len(_A_WORD.findall(c)) >= 2))


def message_text(subject: str, body: str) -> str:
    """The text the model sees for a raw body, as the daemon would compute it."""
    return model_input(subject, split_reply(body)[0])


_WORDLIKE = re.compile(r"(?=.*\w)[\w.']+")  # special cases such as "U.S.", "a.m.", "o'clock": one span each


class BowScorer:
    """The shipped textcat's forward pass, computed directly from its weights.

    The model is `spacy.TextCatBOW.v3` with exclusive classes: the ORTH ids of the tokens and the
    hashes of their n-grams (thinc's `ops.ngrams`), each as often as it occurs, index a hashed weight table
    twice (MurmurHash3 with seeds 0 and 1, modulo the table length, thinc's `SparseLinear.v2`); the sum
    plus the bias goes through a softmax. Going through `nlp(text)` does the same arithmetic behind
    thinc's layer calls, `numpy.unique` and the `Doc.cats` bookkeeping: three quarters of the
    classifier's time for one short message. `for_pipeline` returns None for any other architecture,
    and `load` checks the scores against `nlp(text).cats` before using it. The weights of each token
    and n-gram are looked up once and remembered as one row (`_row_of`), and so are the token ids of
    each whitespace-delimited span (`token_ids`): a message is then list and dictionary work plus one
    small numpy sum.
    """

    def __init__(self, tokenizer, weights, bias, ngram_size: int, labels: tuple[str, ...]) -> None:  # noqa: ANN001
        import numpy  # noqa: PLC0415
        from spacy.attrs import ORTH  # noqa: PLC0415
        from thinc.api import NumpyOps  # noqa: PLC0415

        self._np, self._orth, self._ops = numpy, ORTH, NumpyOps()
        self.tokenizer = tokenizer
        self.length = weights.shape[0] // len(labels)
        self.weights = weights.reshape(len(labels), self.length)
        self.bias = bias.astype(numpy.float64)
        self.ngram_size = ngram_size
        self.labels = labels
        self._span_ids: dict[str, tuple[int, ...]] = {}  # a span of text -> the ORTH ids of its tokens
        # Special cases made of marks (emoticons: ":)", "):", "<3"; quotes: "'", "''") are matched by the
        # tokenizer over the whole text, across a single space between spans: "opt:) :)opt" and "' '':"
        # are not their spans' tokens. Text holding an emoticon, or a quote on each side of a space (a
        # quote inside a word, "i'm", is no token of its own), is tokenized whole.
        marks = sorted((k for k in getattr(tokenizer, "rules", None) or {}
                        if not k.isspace() and not _WORDLIKE.fullmatch(k) and k.strip("'")), key=len, reverse=True)
        self._across_spans = re.compile("|".join([*map(re.escape, marks), "' '"]))
        self._row_of: dict[int | tuple[int, ...], int] = {}  # token id or n-gram of ids -> its row in _rows
        self._rows = numpy.zeros((_CACHE_LIMIT, len(labels)), dtype=numpy.float64)
        self._used = 0

    @classmethod
    def for_pipeline(cls, nlp) -> BowScorer | None:  # noqa: ANN001
        model_cfg = nlp.config.get("components", {}).get("textcat", {}).get("model", {})
        if (nlp.pipe_names != ["textcat"] or model_cfg.get("@architectures") != "spacy.TextCatBOW.v3"
                or not model_cfg.get("exclusive_classes") or model_cfg.get("no_output_layer")):
            return None
        textcat = nlp.get_pipe("textcat")
        nodes = {node.name: node for node in textcat.model.walk()}
        sparse, ngrams = nodes.get("sparse_linear"), nodes.get("extract_ngrams")
        if sparse is None or ngrams is None or sparse.attrs.get("v1_indexing") or "softmax_activation" not in nodes:
            return None
        return cls(nlp.tokenizer, sparse.get_param("W"), sparse.get_param("b"),
                   ngrams.attrs["ngram_size"], tuple(textcat.labels))

    def _buckets(self, keys):  # noqa: ANN001, ANN202 - uint64 keys -> (idx seed 0, idx seed 1)
        """thinc's MurmurHash3_x86_32_uint64(key, seed) for seeds 0 and 1, vectorised."""
        np = self._np
        n = keys.shape[0]
        h = np.zeros(2 * n, dtype=np.uint32)
        h[n:] = 1
        low = (keys & 0xFFFFFFFF).astype(np.uint32)
        high = (keys >> np.uint64(32)).astype(np.uint32)
        for part in (low, high):
            k = np.concatenate((part, part)) * np.uint32(0xCC9E2D51)
            k = ((k << np.uint32(15)) | (k >> np.uint32(17))) * np.uint32(0x1B873593)
            h ^= k
            h = ((h << np.uint32(13)) | (h >> np.uint32(19))) * np.uint32(5) + np.uint32(0xE6546B64)
        h ^= np.uint32(8)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
        h %= np.uint32(self.length)
        return h[:n], h[n:]

    def token_ids(self, text: str) -> list[int]:
        """The ORTH ids of the tokenizer's tokens, span by span, each span tokenized once.

        spaCy's tokenizer cuts the text into runs of whitespace and non-whitespace (`str.isspace`), a
        single space after a word being that word's trailing space, and tokenizes each run on its
        own, so the same run always gives the same tokens. `_RUNS` cuts the text the same way (a word
        with its trailing space, or the whitespace after that), the ids of each span are remembered,
        and a text costs one regex pass and a dictionary look-up per span. A test checks the ids
        against the tokenizer's on held-out texts and random strings of words, marks and whitespace.
        """
        if self._across_spans.search(text):
            return self.tokenizer(text).to_array(self._orth).tolist()
        known = self._span_ids
        spans = _RUNS.findall(text)
        try:
            return [i for span in spans for i in known[span]]
        except KeyError:
            if len(known) >= _CACHE_LIMIT:
                known.clear()
            for span in spans:
                if span not in known:
                    known[span] = tuple(self.tokenizer(span).to_array(self._orth).tolist())
            return [i for span in spans for i in known[span]]

    def scores(self, text: str) -> dict[str, float]:
        ids = self.token_ids(text)
        if not ids:
            return dict.fromkeys(self.labels, 0.0)  # what spaCy's textcat gives a document without tokens
        # each token and each n-gram, as often as it occurs (the model's features are the counts)
        keys: list[int | tuple[int, ...]] = list(ids)
        for n in range(2, self.ngram_size + 1):
            keys += zip(*(ids[k:] for k in range(n)))
        row_of = self._row_of
        rows = [row_of.get(key) for key in keys]
        if None in rows:
            rows = self._add_rows(keys)
        # take + add.reduce: the same sum as rows[list].sum(axis=0), at two thirds of the cost
        logits = (self.bias + self._np.add.reduce(self._rows.take(rows, axis=0), axis=0)).tolist()
        top = max(logits)
        exps = [math.exp(x - top) for x in logits]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.labels, exps)}

    def _add_rows(self, keys: list[int | tuple[int, ...]]) -> list[int]:
        """Remember each new key's contribution (its two weight columns, summed) as a row."""
        np = self._np
        missing = list(dict.fromkeys(key for key in keys if key not in self._row_of))
        if self._used + len(missing) > self._rows.shape[0]:
            self._row_of.clear()  # full: start again (a few MB, re-learnt in a few hundred messages)
            self._used, missing = 0, list(dict.fromkeys(keys))
        hashes = [key if isinstance(key, int) else int(self._ops.ngrams(len(key), np.array(key, dtype=np.uint64))[0])
                  for key in missing]
        first, second = self._buckets(np.array(hashes, dtype=np.uint64))
        end = self._used + len(missing)
        self._rows[self._used:end] = (self.weights[:, first] + self.weights[:, second]).T
        self._row_of.update(zip(missing, range(self._used, end)))
        self._used = end
        return [self._row_of[key] for key in keys]


_RUNS = re.compile(r"\S+ ?|\s+")  # a word and its trailing space, or whitespace
# token and n-gram keys whose contributions are remembered (3.2 MB), and spans whose token ids are;
# each forgotten all at once when full
_CACHE_LIMIT = 100_000


class SpacyIntentClassifier:
    """Loaded once at start-up; `classify` is CPU-bound: call it off the event loop."""

    name = NAME

    def __init__(self, nlp, scorer: BowScorer | None = None) -> None:  # noqa: ANN001 - spacy.Language, imported lazily
        self.nlp = nlp
        self.version = nlp.meta.get("version", "")
        self.scorer = scorer

    def _scores(self, texts: list[str]) -> list[dict[str, float]]:
        if self.scorer is not None:
            return [self.scorer.scores(t) for t in texts]
        return [doc.cats for doc in self.nlp.pipe(texts)]

    def _read(self, text_features: str) -> dict[str, float]:
        cats = self._scores([text_features])[0]
        return {label: float(cats.get(label, 0.0)) for label in LABELS}

    def classify(self, subject: str, text: str) -> Classification:
        _READ_THIS_MESSAGE.features = {}
        try:
            return self._classify(subject, text)
        finally:
            _READ_THIS_MESSAGE.features = None

    def _classify(self, subject: str, text: str) -> Classification:
        model_text = model_input(subject, text)
        if not _A_WORD.search(model_text):
            # Nothing written at all: a person must look (never an automatic action on silence).
            scores = {label: 0.0 for label in LABELS}
            scores[Intent.AMBIGUOUS.value] = 1.0
            return Classification(intent=Intent.AMBIGUOUS, confidence=1.0, scores=scores, classifier=NAME,
                                  reasons=("model:intent empty message",))
        said_subject = subject  # the subject beside what is said now, where a check reads that alone
        if not _A_WORD.search(text):
            text = model_text  # written in the subject alone: the clause checks below read the subject
            said_subject = ""  # (already in text: "I previously opted in. Please opt me out now." read once)
        text_features = features(model_text)
        scores = self._read(text_features)
        best = max(LABELS, key=lambda label: scores[label])
        bare = self._bare_reply(subject, text, scores)
        if bare is not None:
            scores, text_features, best = *bare, Intent.OPT_OUT.value
        focused = ""
        if scores[best] < FOCUS_BELOW.get(best, 1.0) and not _MAILING.search(text_features):
            focused = self._focus(text)
            if focused:
                text_features = features(model_input(subject, focused))
                scores = self._read(text_features)
                best = max(LABELS, key=lambda label: scores[label])
        read_by_request = False
        if (best == Intent.AMBIGUOUS.value or (best == Intent.OPT_OUT.value and scores[best] < LETTER_REQUEST_SCORE)) \
                and len(text) >= LETTER_MIN_CHARS and not _MAILING.search(text_features):
            request = self._letter_request(text)
            if request is not None and request[Intent.OPT_OUT.value] > scores[Intent.OPT_OUT.value]:
                # (the checks below still read the whole letter for a condition or a doubt)
                scores, best, read_by_request = request, Intent.OPT_OUT.value, True
        if best == Intent.OPT_IN.value or (best == Intent.AMBIGUOUS.value and "?" not in text and "\u00bf" not in text):
            # the opt-in is the story and the stop request is said now ("Last month I emailed saying opt me back in
            # ... opt me out again, for real this time"): read what is said now; so too for a doubt that is the story
            # ("A rep asked if it was ok to send me deals and I said sure. ... Do not use my account for marketing"),
            # more clearly, and never beside a question
            least = TOLD_STOP_SCORE if best == Intent.OPT_IN.value else LETTER_REQUEST_SCORE
            now = self._stop_said_now(said_subject, focused or text, least) if set(
                _concept_words(text_features)) & _STOP_WORDS else None  # (no stop word: none is said now either)
            if now is not None:
                scores, best, text_features = now[0], Intent.OPT_OUT.value, now[1]
        reason = ""
        if best == Intent.OPT_IN.value and ((_asks_to_stop(text_features) and _asks_to_stop(
                features(model_input(said_subject, _said_now(focused or text, stops_told=True)))))
                or self._asks_to_stop_unread(text, text_features)):
            # (the stop words of a story told around the opt-in, "me había borrado", do not count; a stop
            # request in the unread middle of a long letter does)
            reason = "model:intent opt_in_beside_a_stop_request"
        elif best == Intent.OPT_IN.value and _refuses_use(text_features) and _refuses_use(
                features(model_input(said_subject, _said_now(focused or text)))):
            # "Quiero la exclusión. No quiero que vuelvan a usar mis datos para promociones": the opt-in
            # answer is read over a refusal of the use of data, of contact or of marketing
            reason = "model:intent opt_in_beside_a_refusal"
        elif best == Intent.OPT_IN.value and _applies_for_a_job(text_features.rsplit("\n\n", 1)[0]):
            # "I'm writing to apply for the Marketing Analyst position ... reporting on opt-in rates ... my resume is
            # attached": a job application speaks of marketing, opt-in rates and joining the company; an opt-in read
            # there is for a person (an opt-out beside a job application is the sender's request, and stays one)
            reason = "model:intent opt_in_in_a_job_application"
        elif best in (Intent.OPT_OUT.value, Intent.OPT_IN.value) and _changes_mind(
                text_features.rsplit("\n\n", 1)[0], best):  # (the normalized text the model read)
            reason = "model:intent changes_mind"
        elif best in (Intent.OPT_OUT.value, Intent.OPT_IN.value) and self._clauses_conflict(text, best):
            reason = "model:intent clauses_conflict"
        elif best == Intent.OPT_IN.value and (_only_assents(text) or (scores[best] < OPT_IN_SURE
                                                                      and self._opt_in_doubted(text))):
            reason = "model:intent opt_in_doubted"
        elif best == Intent.OPT_IN.value and _OPT_IN_EXCEPT.search(text_features.split("\n\n", 1)[0]):
            reason = "model:intent opt_in_for_part"
        elif best in (Intent.OPT_OUT.value, Intent.OPT_IN.value) and _asks_its_status(text_features):
            # "Please check whether I'm opted in.": where the account stands is asked, no change
            reason = "model:intent asks_its_status"
        elif best == Intent.OPT_OUT.value and _sets_a_condition(model_text, text_features):
            reason = "model:intent opt_out_with_a_condition"
        elif best == Intent.OPT_OUT.value and _only_a_negated_removal(text_features):
            # "I no longer want to be opted out", "please do NOT opt me out": an opt-in or nothing, never an opt-out
            reason = "model:intent opt_out_negated"
        elif best == Intent.OPT_OUT.value and not _concept_words(text_features):
            # "please process", "Ditto.": no word of a request at all (a typo the concepts miss, "opt ot",
            # "stp", is reviewed too: the safe direction)
            reason = "model:intent opt_out_without_request_words"
        elif best == Intent.OPT_OUT.value and _ASKS_NOTHING.search(text_features):
            # "I'm not asking anything of your marketing department", "no les pido nada": the writer says so
            reason = "model:intent opt_out_asks_nothing"
        elif best == Intent.OPT_OUT.value and (_only_asks(text_features)
                                               or _asks_whether(text_features.rsplit("\n\n", 1)[0])
                                               or _ASKS_WHAT_OPTING_OUT_DOES.search(text_features.rsplit("\n\n", 1)[0])):
            # "¿Tengo activada la opción de publicidad? No me acuerdo qué escogí": a question, no request
            reason = "model:intent opt_out_only_asks"
        elif best == Intent.OPT_OUT.value and _only_complains_of_consent(text_features):
            # "A device was financed on my account without my consent": a complaint about what was done, no refusal
            reason = "model:intent opt_out_a_complaint"
        elif best == Intent.OPT_OUT.value and _FOOTER.search(text_features):
            # "Reply STOP to opt out": a mailing's instruction, pasted or forwarded; a person reads it
            reason = "model:intent opt_out_in_a_footer"
        elif best == Intent.OPT_OUT.value and _LEAVES_THE_DNM_LIST.search(text_features.rsplit("\n\n", 1)[0]):
            # "I'm on your do-not-market list. Please take me off it", "estoy en la lista de no contactar, sáquenme de esa
            # lista": leaving the list is the way back in; a person reads which way the customer means
            reason = "model:intent opt_out_leaves_the_list"
        elif best == Intent.OPT_OUT.value and _REVERSAL.search(text_features):
            # the words undo a restriction ("my objection ... is withdrawn", "undo the opt-out I sent"):
            # an opt-out answer contradicts them
            reason = "model:intent opt_out_beside_a_reversal"
        elif best == Intent.UNRELATED.value:
            reason = self._request_clause(text, text_features, subject)
        reasons: tuple[str, ...] = ()
        if reason:
            scores = {label: score * (1 - CONFLICT_SHIFT) for label, score in scores.items()}
            scores[Intent.AMBIGUOUS.value] += CONFLICT_SHIFT
            best = max(LABELS, key=lambda label: scores[label])
            reasons = (reason,)
        if best == Intent.OPT_IN.value and _REVERSAL.search(text_features):
            reasons = (*reasons, REVERSES_A_RESTRICTION)  # the keyword safety net leaves it to the model
        if focused:
            reasons = ("model:intent focused", *reasons)
        if bare is not None:
            reasons = ("model:intent read_without_the_subject", *reasons)
        if read_by_request:
            reasons = ("model:intent read_by_its_request", *reasons)
        return Classification(intent=Intent(best), confidence=scores[best], scores=scores, classifier=NAME,
                              reasons=(f"model:intent {best} {scores[best]:.2f}", *reasons))

    def _bare_reply(self, subject: str, text: str, scores: dict[str, float]) -> tuple[dict[str, float], str] | None:
        """A bare stop or remove word ("unsubscribe", "STOP", "baja") answering a mail whose subject is quoted ("Re:
        Exclusive offers just for you", "RE: How Kestrel Mobile uses your information"): the subject is the
        carrier's words, and the answer is read alone, when alone it reads as an opt-out more surely."""
        if not REPLY_SUBJECT.match(subject) or not 0 < len(_A_WORD.findall(text)) <= BARE_REQUEST_WORDS:
            return None
        alone = features(model_input("", text))
        if set(_concept_words(alone)) not in _BARE_REQUESTS:
            return None
        read = self._read(alone)
        if max(LABELS, key=lambda label: read[label]) != Intent.OPT_OUT.value or \
                read[Intent.OPT_OUT.value] <= scores[Intent.OPT_OUT.value]:
            return None
        return read, alone

    def _stop_said_now(self, subject: str, text: str, least: float) -> tuple[dict[str, float], str] | None:
        """For an opt-in or ambiguous answer: when some clause tells what happened before, no clause said now reads
        as an opt-in (REQUEST_CLAUSE_SCORE), and what is said now (_said_now) reads as an opt-out at `least` or more,
        the scores and features of what is said now."""
        normalized = normalize(text)
        if not may_tell_the_past(normalized) and not _SOMEONE_SAID.search(normalized):
            return None  # no part can tell the past (classify.tells_the_past) or what someone said: nothing to set aside
        now = _said_now(text)
        if not now or not _A_WORD.search(now) or len(now) >= len(text) - 1:
            return None
        cats, told = self._clause_scores(text), self._clause_told(text)
        if not any(told) or any(c[Intent.OPT_IN.value] >= REQUEST_CLAUSE_SCORE for c, t in zip(cats, told) if not t):
            return None
        now_features = features(model_input(subject, now))
        scores = self._read(now_features)
        if max(LABELS, key=lambda label: scores[label]) != Intent.OPT_OUT.value or scores[Intent.OPT_OUT.value] < least:
            return None
        return scores, now_features

    def _focus(self, text: str) -> str:
        """What the customer wrote without its clauses that read `unrelated` (a story, a support question
        beside the request), for long mail where some but not all of its concept clauses do; else ""."""
        if len(text) < FOCUS_MIN_CHARS:
            return ""
        clauses = _clauses(text)
        said = [i for i, c in enumerate(clauses) if not features(c).endswith("\n\n")]  # they hold a concept
        if len(said) < FOCUS_MIN_CLAUSES:
            return ""
        # the clause checks' own scores, in the same order (remembered: the checks after this read them
        # again); their `ambiguous` set to 0 for a topic-only clause leaves the `unrelated` score as it is
        cats = self._clause_scores(text)
        aside = {i for i, c in zip(said, cats) if c[Intent.UNRELATED.value] >= FOCUS_UNRELATED}
        if not aside or len(aside) == len(said):
            return ""
        # ... and only when what is left asks for something: a complaint's "I said no four times. I'm not
        # asking anything of your marketing department" is no request once the story is set aside
        # ... in words of this mailbox's matter: "¿Me lo pueden volver a emitir a mi dirección nueva?" (a refund cheque
        # sent again) reads as an opt-in once the rest is set aside, but names no marketing, data or consent
        words = self._clause_words(text)
        if not any(max(c[Intent.OPT_OUT.value], c[Intent.OPT_IN.value]) >= FOCUS_REQUEST and words[n] & _MATTER
                   for n, (i, c) in enumerate(zip(said, cats)) if i not in aside):
            return ""
        return ". ".join(c.strip() for i, c in enumerate(clauses) if i not in aside)

    def _letter_request(self, text: str) -> dict[str, float] | None:
        """For a long letter read as `ambiguous` as a whole, or as `opt_out` below LETTER_REQUEST_SCORE (the
        story around the request makes the model unsure of it): the scores of its clearest opt-out clause, when
        one reads `opt_out` at LETTER_REQUEST_SCORE or more, none reads `opt_in` at 0.5, no clause holds a
        word of a condition, a hedge, a "yes", setting aside or a reversal, and no question follows the
        last such clause. A bereaved writer's story around "Please stop all marketing to his account" is
        the story of that request; "opt me out, or maybe later" is not."""
        cats = self._clause_scores(text)
        if len(cats) < 2:
            return None
        said = self._clause_words(text)
        asks = [i for i, c in enumerate(cats) if c[Intent.OPT_OUT.value] >= LETTER_REQUEST_SCORE]
        if not asks or any(c[Intent.OPT_IN.value] >= REQUEST_CLAUSE_SCORE for c in cats) or any(
                words & _UNDECIDED for words in said) or any(words & _ASKED for words in said[max(asks) + 1:]):
            return None
        return cats[max(asks, key=lambda i: cats[i][Intent.OPT_OUT.value])]

    # the text, clause scores, told flags and clause features of the last message: its checks (conflict,
    # doubt, request words) read it once
    _last_clauses: tuple[str, list[dict[str, float]], list[bool], list[str]] = ("", [], [], [])

    def _clause_scores(self, text: str) -> list[dict[str, float]]:
        """The scores of each distinct clause of what the customer wrote that holds a concept, when there
        are two or more."""
        return self._clause_reads(text)[1]

    def _clause_told(self, text: str) -> list[bool]:
        """For each clause _clause_scores scores: it tells what happened before and asks nothing now."""
        return self._clause_reads(text)[2]

    _last_words: tuple[str, list[set[str]]] = ("", [])

    def _clause_words(self, text: str) -> list[set[str]]:
        """The concept words of each clause _clause_scores scores, read once per message (the conflict
        check and the long-letter check both need them)."""
        last = self._last_words  # one tuple, read and replaced whole, as _last_clauses
        if last[0] == text:
            return last[1]
        words = [set(_concept_words(doc)) for doc in self._clause_reads(text)[3]]
        self._last_words = (text, words)
        return words

    def _clause_reads(self, text: str) -> tuple[str, list[dict[str, float]], list[bool], list[str]]:
        last = self._last_clauses  # one tuple, read and replaced whole: safe across worker threads
        if last[0] == text:
            return last
        last = (text, *self._score_clauses(text))
        self._last_clauses = last
        return last

    def _score_clauses(self, text: str) -> tuple[list[dict[str, float]], list[bool], list[str]]:
        clauses = _clauses(text)
        if len(clauses) < 2:
            return [], [], []
        # only clauses that say something the concepts read: a greeting, a closing ("Muchas gracias"), a
        # name or an identifier line asks for nothing, whatever its words weigh in some retraining
        said = [(c, f) for c, f in zip(clauses, map(features, clauses)) if not f.endswith("\n\n")]
        if len(said) < 2:
            return [], [], []
        docs = [f for _, f in said]
        # a clause that only names a topic ("I got your letter about CPNI", "my bill") doubts nothing: it
        # may not read as `ambiguous` against the request beside it
        cats = [{**cats, Intent.AMBIGUOUS.value: 0.0} if _names_a_topic_only(doc) else cats
                for doc, cats in zip(docs, self._scores(docs))]
        return cats, [_told(f.split("\n\n", 1)[0]) or bool(_LETTER_TELLS.search(f)) for _, f in said], docs

    def _request_clause(self, text: str, text_features: str, subject: str = "") -> str:
        """The reason to show unrelated mail to a person: a clause of it reads as a request. An opt-out
        clause counts only in mail without the words of a mailing ("click here", "reply STOP"): their
        "unsubscribe" is the footer's, not the sender's. The words of the subject count too ("When is my
        contract up? i revoke my consent for marketing" as the subject, an account number below)."""
        cats = self._clause_scores(text)
        if any(c[Intent.OPT_IN.value] >= REQUEST_CLAUSE_SCORE for c in cats):
            return "model:intent opt_in_clause"
        if any(c[Intent.OPT_OUT.value] >= REQUEST_CLAUSE_SCORE for c in cats) and not _reads_as_a_mailing(text_features):
            return "model:intent opt_out_clause"
        if self._asks_to_stop_unread(text, text_features):
            return "model:intent opt_out_clause"
        if not _FOOTER.search(text_features):
            whole = set(_concept_words(text_features))
            if "c_nremove" in whole and whole & _WANTS_MARKETING:
                return "model:intent request_words"  # "no me den de baja, quiero los descuentos": an opt-in
            # the clauses the checks above scored (those without a concept cannot match), or, when
            # there were not two of them, every clause read here
            docs = self._clause_reads(text)[3] or [features(c) for c in _clauses(text) or [text]]
            if subject.strip() and subject.strip() not in text:
                docs = [*docs, *map(features, _clauses(subject) or [subject])]
            for doc in docs:
                singles = set(_concept_words(doc))
                if ("c_mkt" in singles and singles & _ASKING) or singles >= {"c_neg", "c_nmkt"} or singles >= {
                        "c_nuse", "c_ndata"}:
                    return "model:intent request_words"
            if _ANSWERS_YES.search(text_features):
                return "model:intent request_words"  # "... es verdad mi respuesta es sí": the notice answered
            for clause in [*_CLAUSES.split(within_reading(text)), *_CLAUSES.split(subject)]:  # one-word ones too
                if 0 < len(_A_WORD.findall(clause)) <= BARE_REQUEST_WORDS and set(
                        _concept_words(features(clause))) in _BARE_REQUESTS:
                    return "model:intent request_words"
        return ""

    def _asks_to_stop_unread(self, text: str, text_features: str) -> bool:
        """A clause in the middle of a letter longer than the model reads (classify.beyond_reading), which no other
        check sees, reads as an opt-out: its clauses that hold a concept are scored for this check only (mail that
        long is rare); a mailing's is set apart, as in _request_clause."""
        unread = beyond_reading(text)
        if not unread or _reads_as_a_mailing(text_features):
            return False
        middle = [doc for doc in map(features, dict.fromkeys(_CLAUSES.split(unread))) if not doc.endswith("\n\n")]
        return bool(middle) and any(c[Intent.OPT_OUT.value] >= REQUEST_CLAUSE_SCORE for c in self._scores(middle))

    def _opt_in_doubted(self, text: str) -> bool:
        """One clause of what the customer wrote reads as an opt-out or a doubt."""
        # a clause that tells the story ("I opted out a couple of years ago") doubts nothing said now
        # ... nor does one that only says not to remove the sender ("do NOT opt me out. i want the promos"), however
        # the model reads it alone
        return any(max(c, key=c.get) in _DOUBTS and max(c.values()) >= DOUBT_SCORE and not told
                   and not _only_a_negated_removal(doc) and not _writes_for_someone(doc.split("\n\n", 1)[0])
                   for c, told, doc in zip(self._clause_scores(text), self._clause_told(text), self._clause_reads(text)[3]))

    def _clauses_conflict(self, text: str, best: str) -> bool:
        """One clause of what the customer wrote reads as an opt-out and another as an opt-in, or one as
        a request and another as a question or a hedge ("Opt me out. Or would that affect my contract?").
        A clause that tells what happened before ("I opted out a couple of years ago", "me di de baja
        hace meses") counts only for the answer `best`; and when only such clauses read an opt-in, the
        opt-in is history, not one asked for now: also for a person. An opt-out answer beside a clause said
        now that reads as an opt-in is a conflict even when no clause reads as an opt-out clearly."""
        cats, told = self._clause_scores(text), self._clause_told(text)
        if len(cats) < 2:
            return False
        # in a long letter, a clause that reads as a doubt but holds no word of a request ("I can provide
        # the POA document if needed", "who is 91 and lives in assisted care") is the story, not a hedge
        docs = self._clause_reads(text)[3]
        said = self._clause_words(text)
        # ... and, for an opt-out answer, a question or a doubt that only asks what this is, before the last
        # clause that asks to opt out ("I don't know what CPNI is ... Opt me out", "What is this? Remove
        # me"): the customer decided after it; so too a question there that names what it asks about ("I don't
        # totally understand what you're asking permission for. ... Please just opt me out")
        last = max((i for i, c in enumerate(cats) if c[best] >= CONFLICT_SCORE), default=-1) \
            if best == Intent.OPT_OUT.value else -1
        # ... and a clause that reports what the notice says ("Your notice says you use CPNI for marketing
        # unless I opt out") is the carrier's words, not a doubt; nor is a question that complains ("Why are
        # you still using my info?") beside an opt-out
        aside = [(len(cats) >= CONFLICT_LONG_CLAUSES and not words & _REQUEST_CONCEPTS)
                 or (i < last and (not words & _DECIDING or (bool(words & _ASKED) and not words & _NAMES_THE_REQUEST)))
                 or bool(_REPORTED.search(doc)) or bool(_ROUTING.search(doc)) or bool(_OFFER.search(doc))
                 or (best == Intent.OPT_OUT.value and bool(_COMPLAINT_QUESTION.match(doc)))
                 for i, (words, doc) in enumerate(zip(said, docs))]
        # two of opt_out / opt_in / ambiguous each read clearly in some clause (no clause can be two)
        # ... and a clause that only names a topic ("Now I'm getting welcome offers and deals", "I got your
        # letter about CPNI") asks for nothing: like a told one, it counts only for the answer `best`
        topic = list(map(_names_a_topic_only, docs))
        # ... and so does a clause that turns to another topic ("Also, do you buy back old phones?")
        other = [_turns_to_another_topic(doc.split("\n\n", 1)[0], words) or _writes_for_someone(doc.split("\n\n", 1)[0], words)
                 for words, doc in zip(said, docs)]
        if best == Intent.OPT_OUT.value and any(_ASKS_WHAT_IT_DOES.match(doc) and not (t or o or x)
                                                 for doc, t, o, x in zip(docs, told, topic, other)):
            return True  # "... Or would that affect my contract?": what the request would do is asked, however surely
        if any(_SECOND_THOUGHT.match(doc) and not t and max(c[label] for label in _CONFLICTING if label != best) >= DOUBT_SCORE
               for c, t, doc in zip(cats, told, docs)):
            return True  # "... Then again, the privacy block I asked for last year can be taken off now": a second thought
        settled = -1  # (only an opt-out answer beside a clear opt-in clause needs it, and the whole text read again)
        if best == Intent.OPT_OUT.value and any(c[Intent.OPT_IN.value] >= CONFLICT_SCORE for c in cats) \
                and not _CHANGE_OF_MIND.search(normalize(text)):
            settled = max((i for i, c in enumerate(cats) if c[Intent.OPT_OUT.value] >= LETTER_REQUEST_SCORE), default=-1)
        # ... and, beside an opt-in answer, a clause that only says not to remove the sender ("Please don't opt me out"),
        # or only asks to leave the do-not-market list named in it or in the two before ("I'm on your do-not-market list ...
        # Take me off it", "salirme de la lista de no publicidad. Pues sáquenme"): leaving that list is the way back in
        kept = [best == Intent.OPT_IN.value and (_only_a_negated_removal(doc) or (
                    bool(words & _LEAVES) and words <= _LEAVES_THE_LIST
                    and any(_DNM_LIST in d.split("\n\n", 1)[0] for d in docs[max(0, i - 2):i + 1])))
                for i, (words, doc) in enumerate(zip(said, docs))]
        read = {label for label in _CONFLICTING
                if any(c[label] >= (CONFLICT_AMBIGUOUS_SCORE if label == Intent.AMBIGUOUS.value else CONFLICT_SCORE)
                       and (label == best or not (t or o or x))
                       and not (label == Intent.OPT_OUT.value and k)
                       and not (label == Intent.AMBIGUOUS.value and a)
                       and not (label == Intent.OPT_IN.value and i < settled and (_TURNS_WITHIN.search(docs[i]) or any(
                           _TURN.search(doc) for doc in docs[i + 1:settled + 1])))
                       for i, (c, t, a, o, x, k) in enumerate(zip(cats, told, aside, topic, other, kept)))}
        if len(read) >= 2:
            return True
        if best == Intent.OPT_OUT.value and Intent.OPT_IN.value in read:
            # an opt-out answer beside a clause that clearly consents, said now ("You can keep using my info for
            # deals through August. After that I don't want it used."): the opt-out clause need not be clear too
            return True
        # (an opt-in told is history only beside no clause asking for it now: "Please do NOT opt me out. I actually like
        # getting the upgrade offers, got a great deal on my last phone that way")
        return best == Intent.OPT_IN.value and best in read and not any(kept) and all(
            t for c, t in zip(cats, told) if c[best] >= CONFLICT_SCORE)


# ... and an opt-out answer whose removal points back at the do-not-market list the sender says they are on ("she is on
# your do-not-market list and she wants off", "I'm on your do-not-market list. Please take me off it", "estoy en su
# lista de no publicidad y quiero salir de ella")
_LEAVES_THE_DNM_LIST = re.compile(
    r"\b(?:on|in|en)\s+(?:your|the|their|su|sus|la|esa)\s+(?:lista de\s+)?dnmlist\s*(?:list|lista)?\b[^.!?\n]{0,60}?[.!?,]?\s*"
    r"(?:please\s+|por favor\s+|pues\s+)?(?:\w+\s+){0,4}?"
    r"(?:wants? (?:off|out)\b|(?:take|get) (?:me|him|her|us|them) (?:off|out)(?: of)? (?:it|that|there|that list|the list)\b|"
    r"(?:salir|salirme|salirse|salirnos) de (?:ella|ahi|esa lista|la lista)\b|(?:saquen|quiten)(?:me|la|lo|nos|los|las)? de (?:ella|ahi|esa lista|la lista)\b)")
_LEAVES = frozenset(("c_stop", "c_remove"))
_LEAVES_THE_LIST = _LEAVES | {"c_want", "c_dnm"}  # ("she wants off", "take me off it", "sáquenme")
_DNM_LIST = "dnmlist"  # normalize()'s one word for the do-not-market list


# Texts the direct scorer is checked on at load: it is used only when it gives spaCy's own scores.
_SELF_CHECK = ("please opt me out", "Quiero que usen mis datos otra vez.", "what is this?",
               "my bill is wrong\n\nc_stop c_mkt", "x", "", "hello,\nstop\tnow \n\u00a0 a.\n:) ok\n\nc_stop")
_SELF_CHECK_TOLERANCE = 1e-5


def load(model_dir: Path) -> SpacyIntentClassifier:
    import spacy  # noqa: PLC0415 - slow import, only when the model is used

    nlp = spacy.load(Path(model_dir))
    scorer = BowScorer.for_pipeline(nlp)
    if scorer is not None:
        for text in _SELF_CHECK:
            direct, reference = scorer.scores(features(text)), nlp(features(text)).cats
            if any(abs(direct[label] - reference[label]) > _SELF_CHECK_TOLERANCE for label in reference):
                scorer = None
                break
    return SpacyIntentClassifier(nlp, scorer)


def read_examples(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def train(training_dir: Path, out_dir: Path, seed: int = 0) -> dict:
    """Train on training_dir/train.jsonl with training_dir/config.cfg; write the pipeline to out_dir.

    `[training] average_of_seeds = N` in the config trains N models, with seeds seed .. seed+N-1, and
    ships their mean weights (`_average`): one model of the same size and speed whose scores are the
    softmax of the N models' mean logits. Never reads heldout.jsonl. Returns a summary (counts,
    epochs, final loss, data hash, seeds, seconds).
    """
    from spacy.util import load_config  # noqa: PLC0415

    started = time.monotonic()
    training_dir, out_dir = Path(training_dir), Path(out_dir)
    config = load_config(training_dir / "config.cfg", overrides={"system.seed": seed}, interpolate=True)
    settings = config["training"]
    seeds = [seed + k for k in range(int(settings.get("average_of_seeds", 1)))]
    if not seeds:
        raise ValueError("config.cfg [training] average_of_seeds must be 1 or more")
    data_path = training_dir / "train.jsonl"
    rows = read_examples(data_path)
    texts = [features(message_text(row["subject"], row["body"])) for row in rows]
    trained = [_train_one(config, texts, [row["label"] for row in rows], s) for s in seeds]
    nlp, losses = trained[0]
    if len(trained) > 1:
        _average(nlp, [other for other, _ in trained])

    predicted = nlp.pipe(texts)
    correct = sum(max(doc.cats, key=doc.cats.get) == row["label"] for row, doc in zip(rows, predicted))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    data_sha = hashlib.sha256(data_path.read_bytes() + (training_dir / "config.cfg").read_bytes()).hexdigest()
    nlp.meta.update({
        "name": "intent", "version": "1.0.0",
        "description": "optout-daemon intent classifier: opt_out / opt_in / ambiguous / unrelated (EN, ES)",
        "optout_daemon": {"seed": seed, "seeds_averaged": seeds, "examples": len(rows), "labels": counts,
                          "train_data_and_config_sha256": data_sha, "input": "features(model_input(subject, split_reply(body)[0]))"},
    })
    _write(nlp, out_dir)
    return {"model_dir": str(out_dir), "examples": len(rows), "labels": counts, "seed": seed, "seeds_averaged": seeds,
            "epochs": settings["max_epochs"], "final_loss": round(sum(loss.get("textcat", 0.0) for _, loss in trained)
                                                                  / len(trained), 4),
            "train_accuracy": round(correct / max(1, len(rows)), 4), "data_sha256": data_sha[:16],
            "seconds": round(time.monotonic() - started, 1)}


def _train_one(config, texts: list[str], labels: list[str], seed: int):  # noqa: ANN001, ANN202 - spaCy objects
    """One textcat trained with `seed`, which fixes every random choice of training (above all the order of the examples)."""
    import spacy  # noqa: PLC0415
    from spacy.training import Example  # noqa: PLC0415
    from spacy.util import fix_random_seed, minibatch, registry  # noqa: PLC0415

    settings = config["training"]
    fix_random_seed(seed)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    textcat = nlp.get_pipe("textcat")
    for label in LABELS:
        textcat.add_label(label)
    examples = [Example.from_dict(nlp.make_doc(text), {"cats": {label: float(label == gold) for label in LABELS}})
                for text, gold in zip(texts, labels)]
    optimizer = registry.resolve({"optimizer": settings["optimizer"]})["optimizer"]
    nlp.initialize(lambda: examples, sgd=optimizer)
    rng = random.Random(seed)
    losses: dict[str, float] = {}
    for _ in range(settings["max_epochs"]):
        rng.shuffle(examples)
        losses = {}
        for batch in minibatch(examples, size=settings["batch_size"]):
            nlp.update(batch, drop=settings["dropout"], sgd=optimizer, losses=losses)
    return nlp, losses


def _average(nlp, pipelines: list) -> None:  # noqa: ANN001
    """Set nlp's textcat weights and bias to the mean of the pipelines' (nlp among them).

    The BOW model is linear up to its softmax, and every pipeline hashes tokens and n-grams into the
    same table (thinc's fixed hash seeds), so the mean weights give each message the mean of the
    models' logits: what the models agree on stays as sure, what one seed learnt by chance is damped.
    """
    def sparse(pipeline):  # noqa: ANN001, ANN202
        return {node.name: node for node in pipeline.get_pipe("textcat").model.walk()}["sparse_linear"]

    target = sparse(nlp)
    for param in ("W", "b"):
        target.set_param(param, sum(sparse(p).get_param(param) for p in pipelines) / len(pipelines))


def _write(nlp, out_dir: Path) -> None:  # noqa: ANN001
    """Write next to out_dir, then swap it in, so a failed write never leaves half a model."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(out_dir.name + ".new")
    old = out_dir.with_name(out_dir.name + ".old")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    nlp.to_disk(tmp)
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    if old.exists():
        shutil.rmtree(old)


def _per_class(gold: list[str], pred: list[str]) -> dict[str, tuple[float, float, float, int]]:
    """label -> (precision, recall, F1, support)."""
    out = {}
    for label in LABELS:
        tp = sum(g == label and p == label for g, p in zip(gold, pred))
        n_pred, n_gold = pred.count(label), gold.count(label)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = (precision, recall, f1, n_gold)
    return out


def evaluate(model_dir: Path, heldout_path: Path) -> str:
    """The held-out report: per-class precision/recall/F1 of the model and the keyword baseline."""
    rows = read_examples(Path(heldout_path))
    model, baseline = load(Path(model_dir)), KeywordClassifier()
    gold = [row["label"] for row in rows]
    texts = [(row["subject"], split_reply(row["body"])[0]) for row in rows]
    started = time.perf_counter()
    model_results = [model.classify(subject, text) for subject, text in texts]
    per_message_ms = (time.perf_counter() - started) * 1000 / max(1, len(rows))
    baseline_results = [baseline.classify(subject, text) for subject, text in texts]
    model_pred = [c.intent.value for c in model_results]
    base_pred = [c.intent.value for c in baseline_results]
    m, b = _per_class(gold, model_pred), _per_class(gold, base_pred)

    langs = sorted({row["lang"] for row in rows})
    lines = [f"Held-out set: {heldout_path} ({len(rows)} messages: "
             + ", ".join(f"{sum(r['lang'] == lang for r in rows)} {lang}" for lang in langs) + ")",
             f"model: {model_dir} (version {model.version}); baseline: KeywordClassifier", "",
             "| class | support | model P | model R | model F1 | baseline P | baseline R | baseline F1 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label in LABELS:
        mp, mr, mf, n = m[label]
        bp, br, bf, _ = b[label]
        lines.append(f"| {label} | {n} | {mp:.3f} | {mr:.3f} | {mf:.3f} | {bp:.3f} | {br:.3f} | {bf:.3f} |")
    m_acc = sum(g == p for g, p in zip(gold, model_pred)) / max(1, len(rows))
    b_acc = sum(g == p for g, p in zip(gold, base_pred)) / max(1, len(rows))
    m_macro = sum(v[2] for v in m.values()) / len(LABELS)
    b_macro = sum(v[2] for v in b.values()) / len(LABELS)
    lines.append(f"| accuracy / macro F1 | {len(rows)} | {m_acc:.3f} | | {m_macro:.3f} | {b_acc:.3f} | | {b_macro:.3f} |")
    for lang in langs:
        idx = [i for i, row in enumerate(rows) if row["lang"] == lang]
        ma = sum(gold[i] == model_pred[i] for i in idx) / len(idx)
        ba = sum(gold[i] == base_pred[i] for i in idx) / len(idx)
        lines.append(f"| accuracy {lang} | {len(idx)} | {ma:.3f} | | | {ba:.3f} | | |")
    tags = sorted({tag for row in rows for tag in row.get("tags", [])})
    if tags:
        lines += ["", "| tag | messages | model accuracy | baseline accuracy |", "|---|---:|---:|---:|"]
        for tag in tags:
            idx = [i for i, row in enumerate(rows) if tag in row.get("tags", [])]
            ma = sum(gold[i] == model_pred[i] for i in idx) / len(idx)
            ba = sum(gold[i] == base_pred[i] for i in idx) / len(idx)
            lines.append(f"| {tag} | {len(idx)} | {ma:.3f} | {ba:.3f} |")
    lines += ["", "Confusion (rows: true label, columns: model's label):",
              "| true \\ model | " + " | ".join(LABELS) + " |", "|---|" + "---:|" * len(LABELS)]
    for g_label in LABELS:
        cells = [sum(g == g_label and p == p_label for g, p in zip(gold, model_pred)) for p_label in LABELS]
        lines.append(f"| {g_label} | " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "What a confidence threshold for automatic action would do (model):",
              "| threshold | opt_out automatic | opt_in automatic | opt_out ignored (-> unrelated) "
              "| opt_out -> opt_in | wrong automatic opt_out/opt_in |", "|---:|---:|---:|---:|---:|---:|"]
    for t in THRESHOLDS:
        auto = {label: sum(g == label and c.intent.value == label and c.confidence >= t
                           for g, c in zip(gold, model_results)) for label in ("opt_out", "opt_in")}
        missed = sum(g == "opt_out" and c.intent.value == "unrelated" and c.confidence >= t
                     for g, c in zip(gold, model_results))
        flipped = sum(g == "opt_out" and c.intent.value == "opt_in" and c.confidence >= t
                      for g, c in zip(gold, model_results))
        wrong = sum(g != c.intent.value and c.intent.value in ("opt_out", "opt_in") and c.confidence >= t
                    for g, c in zip(gold, model_results))
        lines.append(f"| {t:.2f} | {auto['opt_out']}/{gold.count('opt_out')} "
                     f"({auto['opt_out'] / max(1, gold.count('opt_out')):.1%}) | {auto['opt_in']}/{gold.count('opt_in')} "
                     f"({auto['opt_in'] / max(1, gold.count('opt_in')):.1%}) | {missed} | {flipped} | {wrong} |")
    b_missed = sum(g == "opt_out" and p == "unrelated" for g, p in zip(gold, base_pred))
    b_wrong = sum(g != p and p in ("opt_out", "opt_in") for g, p in zip(gold, base_pred))
    lines += [f"Baseline (always confidence 1.0): opt_out missed {b_missed}, wrong automatic opt_out/opt_in {b_wrong}.",
              f"Model classify time: {per_message_ms:.3f} ms/message ({1000 / per_message_ms:,.0f} msg/s, one core)."]
    return "\n".join(lines)
