"""Extracting the texts to translate and keeping the catalogues in step with the sources.

Sources: the error catalogue (`keyturn.messages`, each text under its message id as the
gettext context; operators' texts in `messages.OPERATOR_ONLY` stay English), the hosted
pages' and emails' templates (`{% trans %}`, `_()`), and Python texts marked with `N_()`.
The operators' dashboard (`keyturn/admin`) stays English and is not extracted.

`python -m keyturn.i18n.catalogues update` rewrites `keyturn.pot` and merges it into every
locale's .po (new texts untranslated, removed ones dropped); `missing` lists what each
locale lacks; `todo <locale>` / `fill <locale> <file>` move untranslated texts out to a
JSON file and back (`scripts/i18n` wraps them).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from keyturn import messages
from keyturn.domain.tenant import SHIPPED_LOCALES
from keyturn.i18n import DOMAIN, LOCALE_DIR, SOURCE_LOCALE, po_path

PACKAGE = Path(__file__).parents[1]
POT = LOCALE_DIR / f"{DOMAIN}.pot"
METHOD_MAP = [
    ("admin/**", "ignore"),
    ("web/templates/**.html", "jinja2.ext:babel_extract"),
    ("mail/templates/**", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
OPTIONS = {"**/templates/**": {"trimmed": "true", "newstyle_gettext": "true"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
Key = tuple[str | None, str]  # (context, msgid)


def extract() -> Catalog:
    """Every translatable text in the sources, as a template catalogue."""
    catalog = Catalog(domain=DOMAIN, project="Keyturn", charset="utf-8", fuzzy=False)
    for message_id, text in messages.MESSAGES.items():
        if message_id not in messages.OPERATOR_ONLY:
            where = [("keyturn/messages.py", None)]  # by id, not by line
            catalog.add(text, context=message_id, locations=where)  # type: ignore[arg-type]
    found = extract_from_dir(
        PACKAGE, METHOD_MAP, options_map=OPTIONS, keywords=KEYWORDS, strip_comment_tags=True
    )
    for filename, lineno, found_text, comments, context in found:
        if filename.startswith("i18n/"):
            continue  # this package names the markers, it marks nothing
        catalog.add(
            found_text, context=context, locations=[(f"keyturn/{filename}", lineno)], auto_comments=comments
        )
    return catalog


def keys(catalog: Catalog) -> set[Key]:
    return {(message.context, _msgid(message)) for message in catalog if message.id}


def _msgid(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else str(message.id)


def read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=locale, domain=DOMAIN)


def write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as target:
        write_po(target, catalog, width=100, ignore_obsolete=True, sort_output=False, omit_header=False)


def translated_locales() -> list[str]:
    return [locale for locale in SHIPPED_LOCALES if locale != SOURCE_LOCALE]


def update() -> None:
    """Rewrite the .pot from the sources and merge it into each locale's .po."""
    template = extract()
    write(POT, template)
    for locale in translated_locales():
        path = po_path(locale)
        catalog = read(path, locale) if path.exists() else Catalog(locale=locale, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        write(path, catalog)


def _is_translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return not message.fuzzy and all(strings) and bool(strings)


def label(key: Key) -> str:
    context, msgid = key
    return f"[{context}] {msgid}" if context else msgid


def missing(locale: str, template: Catalog | None = None) -> list[str]:
    """The texts of `template` (the sources by default) that `locale` does not translate."""
    template = template or extract()
    path = po_path(locale)
    catalog = read(path, locale) if path.exists() else Catalog(locale=locale)
    done = {(m.context, _msgid(m)) for m in catalog if m.id and _is_translated(m)}
    return sorted(label(key) for key in keys(template) - done)


_PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+(?:![rs])?\}")


def placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text))


def placeholder_mismatches(locale: str) -> list[str]:
    """Translations that drop or add a `%(name)s` or `{name}` of their source text."""
    wrong = []
    for message in read(po_path(locale), locale):
        if not message.id or not _is_translated(message):
            continue
        sources = [str(s) for s in (message.id if isinstance(message.id, tuple) else (message.id,))]
        strings = [
            str(s) for s in (message.string if isinstance(message.string, tuple) else (message.string,))
        ]
        wanted = set(placeholders(sources[-1])) | set(placeholders(sources[0]))
        needed = set(placeholders(sources[0])) - {"%(num)s", "%(count)s"}
        for string in strings:
            found = set(placeholders(string))
            if not found <= wanted or not needed <= found:
                wrong.append(label((message.context, _msgid(message))))
    return wrong


def todo(locale: str) -> dict[str, Any]:
    """The untranslated texts of `locale` as {label: "" (or one "" per plural form)}."""
    out: dict[str, Any] = {}
    catalog = read(po_path(locale), locale)
    for message in catalog:
        if message.id and not _is_translated(message):
            key = label((message.context, _msgid(message)))
            out[key] = [""] * catalog.num_plurals if isinstance(message.id, tuple) else ""
    return out


def fill(locale: str, translations: dict[str, Any]) -> int:
    """Put `translations` ({label: text or [forms]}) into `locale`'s .po; returns how many."""
    path = po_path(locale)
    catalog = read(path, locale)
    done = 0
    for message in catalog:
        if not message.id:
            continue
        value = translations.get(label((message.context, _msgid(message))))
        if value:
            message.string = tuple(value) if isinstance(message.id, tuple) else str(value)
            message.flags.discard("fuzzy")
            done += 1
    write(path, catalog)
    return done


def _lines(argv: list[str]) -> Iterator[str]:
    command = argv[0] if argv else "missing"
    if command == "update":
        update()
        yield f"updated {POT.relative_to(PACKAGE.parent)} and {len(translated_locales())} catalogues"
    elif command == "missing":
        template = extract()
        for locale in translated_locales():
            for text in missing(locale, template):
                yield f"{locale}: {text}"
    elif command == "todo":
        yield json.dumps(todo(argv[1]), ensure_ascii=False, indent=2)
    elif command == "fill":
        count = fill(argv[1], json.loads(Path(argv[2]).read_text()))
        yield f"{argv[1]}: {count} texts filled"
    else:
        raise SystemExit("usage: catalogues update | missing | todo <locale> | fill <locale> <json file>")


def main(argv: list[str]) -> int:
    for line in _lines(argv):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
