"""A held-out check of cleaning: the stories of dev outlets held out, served by outlets the cleaner has
never seen, whose templates carry lines with a changing part (credits, timestamps, contacts).

    python benchmarks/cleaning_heldout.py ../shared/data/boilerplate-dev/scraped.jsonl /tmp/cleaning-heldout.jsonl [SET]
    article-search eval-cleaning /tmp/cleaning-heldout.jsonl

SET 1 (default): the stories (`clean`) of the five dev outlets of split B in docs/quality.md
("Cleaning") dealt in file order to six new outlets; SET 2: those of split A, to four others;
SET 3: those of split B again, to four more; SETS 4 to 7: those of split A, B, A, B, to four more each.
Each outlet wraps a story in its own template, written for this check and not used to write the
patterns: a head, inserts between paragraphs, a tail, most lines with a slot (a name, a time, a
date, an address) filled anew per story, some lines in only part of the stories. Story lines added
to `clean` as well: a quote with a new speaker in 3 stories of each outlet, and "<name> told
<outlet> on <day>." in a quarter of them. Seeded: the same file every run.
"""

from __future__ import annotations

import json
import random
import sys

HELD_OUT = ["Prairie Gazette", "Riverbend Star", "Summit Journal", "The Daily Ledger", "Valley Courier"]
FIRST = ["Aisha", "Bruno", "Carmen", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jamal", "Keiko", "Luca",
         "Marta", "Nikhil", "Olga", "Pablo", "Qing", "Rosa", "Samir", "Tanya"]
LAST = ["Abara", "Brandt", "Castillo", "Dubois", "Eriksen", "Fischer", "Gallo", "Haddad", "Ivanova", "Jensen",
        "Kowalczyk", "Lindqvist", "Moreau", "Novak", "Ortega", "Park", "Quinn", "Rossi", "Sato", "Tanaka"]
CITIES = ["London", "Lagos", "Madrid", "Mumbai", "Oslo", "Seoul", "Toronto", "Warsaw"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
SECTIONS = ["Business", "Politics", "Technology", "Entertainment", "Sport"]


class Filler:
    """The changing parts of template lines, drawn from one seeded generator."""

    def __init__(self, seed: int):
        self.random = random.Random(seed)

    def name(self) -> str:
        return f"{self.random.choice(FIRST)} {self.random.choice(LAST)}"

    def date(self) -> str:
        return f"{self.random.choice(MONTHS)} {self.random.randint(1, 28)}, {self.random.randint(2003, 2006)}"

    def time(self) -> str:
        return f"{self.random.randint(1, 12)}:{self.random.randint(0, 59):02d} {self.random.choice(['AM', 'PM'])}"

    def pick(self, options: list[str]) -> str:
        return self.random.choice(options)

    def sometimes(self, share: float) -> bool:
        return self.random.random() < share


def lakeside(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    """(head, mid-body inserts, tail) of one story."""
    name = f.name()
    head = [f"{outlet} — Local news since 1887", f"Updated {f.time()} ET, {f.date()}", f"By {name}, Staff Writer"]
    mid = [f"Photo: {f.name()}/{outlet}"] if f.sometimes(0.6) else []
    tail = [f"Reporting by {name}; Editing by {f.name()}", "Have a news tip? Email tips@lakesidedispatch.example",
            f"© {f.random.randint(2003, 2006)} {outlet} Media Group"]
    return head, mid, tail


def granite(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    section = f.pick(SECTIONS)
    head = [f"{outlet} | {section}", f"{f.name()} | {f.date()}"]
    mid = [f"A view of the scene on {f.pick(DAYS)}. (Photo by {f.name()}/Getty Images)"] if f.sometimes(0.5) else []
    tail = [f"{f.name()} contributed to this report.",
            "Want more stories like this? Get the Chronicle's morning briefing.",
            f"Topics: {section}, {f.pick(SECTIONS)}"]
    return head, mid, tail


def bayou(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} Online", f"Posted {f.random.randint(1, 28)} {f.pick(MONTHS)} {f.random.randint(2003, 2006)} "
                                f"at {f.random.randint(0, 23):02d}:{f.random.randint(0, 59):02d}"]
    mid = [f"Image: {f.name()} via Wikimedia Commons"] if f.sometimes(0.5) else []
    tail = [f"Additional reporting by {f.name()} in {f.pick(CITIES)}.",
            f"Copyright {outlet}. This material may not be published, broadcast, rewritten or redistributed."]
    return head, mid, tail


def mesa(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    first, second = f.name(), f.name()
    head = [f"The {outlet}", f"Written by {first} and {second}"]
    mid = ["Continue reading below"] if f.sometimes(0.7) else []
    handle = first.split()[0].lower() + first.split()[1][0].lower()
    tail = [f"Contact {first} at {first.replace(' ', '.').lower()}@mesasignal.example",
            f"Follow {first} on X @{handle}",
            f"The {outlet} is a nonprofit newsroom. Support our journalism."]
    return head, mid, tail


def beacon(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} > {f.pick(SECTIONS)}",
            f"Last updated: {f.pick(DAYS)} {f.random.randint(1, 28)} {f.pick(MONTHS)} {f.random.randint(2003, 2006)}"]
    mid = [f"Picture: {f.name()}"] if f.sometimes(0.5) else []
    tail = [f"Editing by {f.name()} and {f.name()}", f"Our standards: The {outlet} Trust Principles."]
    return head, mid, tail


def tidewater(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet.upper()}", f"{f.pick(CITIES)} bureau · {f.random.randint(2, 9)} min read"]
    mid = [f"Video: {f.name()} reports from {f.pick(CITIES)}"] if f.sometimes(0.4) else []
    tail = [f"Written by {f.name()}; edited by {f.name()}",
            f"Corrections? Contact the {outlet} standards desk.", "Sign in to comment"]
    return head, mid, tail


OUTLETS = {"Lakeside Dispatch": lakeside, "Granite Chronicle": granite, "Bayou Ledger": bayou,
           "Mesa Signal": mesa, "Northern Beacon": beacon, "Tidewater Times": tidewater}


# Set 2, written after the cleaner was last changed and run once as it stands (docs/quality.md).
def orchard(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} · {f.pick(SECTIONS)} · {f.date()}", f"Story by {f.name()}"]
    mid = [f"RELATED: {f.pick(CITIES)} council approves new budget"] if f.sometimes(0.5) else []
    tail = [f"This report was produced with help from {f.name()}.",
            f"Questions about this story? Write to {f.name().split()[0].lower()}@orchardpost.example",
            f"All content © {outlet} {f.random.randint(2003, 2006)}"]
    return head, mid, tail


def harbourlight(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"Home › {f.pick(SECTIONS)} › {f.pick(CITIES)}", f"{f.pick(DAYS)}, {f.date()} — {f.time()}"]
    mid = [f"Caption: Crowds gathered on {f.pick(DAYS)}. Photograph: {f.name()} for {outlet}"] \
        if f.sometimes(0.6) else []
    tail = [f"{f.name()} is a {f.pick(SECTIONS).lower()} correspondent for {outlet}.",
            f"Translated by {f.name()}", "Share your view in the comments below"]
    return head, mid, tail


def ridgeway(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} Newsroom", f"Filed {f.time()} · {f.random.randint(120, 2400)} words"]
    mid = [f"Ad · Sponsored by {f.name()} Realty"] if f.sometimes(0.5) else []
    tail = [f"Produced by {f.name()}. Fact-checked by {f.name()}.",
            f"Reach the newsroom at {f.random.randint(200, 999)}-{f.random.randint(200, 999)}-"
            f"{f.random.randint(1000, 9999)}", f"{outlet} — independent since {f.random.randint(1900, 1990)}"]
    return head, mid, tail


def saltmarsh(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet}: {f.pick(SECTIONS)} desk", f"By {f.name()} and {f.name()} in {f.pick(CITIES)}"]
    mid = [f"Interactive graphic by {f.name()}"] if f.sometimes(0.4) else []
    tail = [f"Additional reporting by {f.name()}; editing by {f.name()}",
            f"Published {f.date()}; last modified {f.date()}", "Report an error"]
    return head, mid, tail


OUTLETS_2 = {"Orchard Post": orchard, "Harbourlight": harbourlight, "Ridgeway Record": ridgeway,
             "Saltmarsh Observer": saltmarsh}


# Set 3, written after set 2 had shaped the last change (shapes of non-sentences mid-body).
def pinecrest(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} Today", f"{f.pick(SECTIONS)} | {f.pick(CITIES)} | {f.date()}",
            f"Reported by {f.name()}, Senior Correspondent"]
    mid = [f"Also on {outlet}: {f.pick(CITIES)} mayor faces recall vote"] if f.sometimes(0.5) else []
    tail = [f"{f.name()} and {f.name()} contributed reporting.",
            f"Got a story? Message {f.name().split()[0]} on Signal at +44 {f.random.randint(7000, 7999)} "
            f"{f.random.randint(100000, 999999)}", f"© {outlet} Ltd {f.random.randint(2003, 2006)}"]
    return head, mid, tail


def fenland(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} / News / {f.pick(SECTIONS)}", f"First published on {f.pick(DAYS)} {f.date()}"]
    mid = [f"Pictured: {f.name()} outside the court"] if f.sometimes(0.5) else []
    mid += [f"Watch our video interview with {f.name()}"] if f.sometimes(0.3) else []
    tail = [f"Words: {f.name()} · Pictures: {f.name()}", f"This story was amended on {f.date()}.",
            f"More {f.pick(SECTIONS).lower()} news from the {outlet}"]
    return head, mid, tail


def quarry(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} · Est. {f.random.randint(1850, 1950)}", f"{f.name()}, {f.pick(CITIES)}"]
    mid = [f"Listen: {f.name()} on the {outlet} podcast"] if f.sometimes(0.5) else []
    tail = [f"Edited by {f.name()}. Research by {f.name()}.",
            f"Subscribers can read {f.random.randint(2, 9)} more stories today", f"{outlet} app: iOS | Android"]
    return head, mid, tail


def westgate(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"WESTGATE WIRE — {f.pick(SECTIONS).upper()}", f"Dateline: {f.pick(CITIES)}, {f.date()}"]
    mid = [f"(Chart by {f.name()}/{outlet})"] if f.sometimes(0.5) else []
    tail = [f"-- Reporting by {f.name()} in {f.pick(CITIES)}; writing by {f.name()} --",
            f"Source: {outlet} ({f.random.randint(1, 999)} wires today)", f"{outlet} Trust Standards apply"]
    return head, mid, tail


OUTLETS_3 = {"Pinecrest Daily": pinecrest, "Fenland Voice": fenland, "Quarry Gazette": quarry,
             "Westgate Wire": westgate}
# Set 4, written before the fixes that set 3's misses led to (docs/quality.md, "Held-out cleaning,
# continued") and run only after them: the held-out measure of those fixes.
def copperfield(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    section = f.pick(SECTIONS)
    head = [outlet, f"{section} | {f.pick(CITIES)}", f"By {f.name()} | Published {f.date()}"]
    mid = [f"Photograph by {f.name()}"] if f.sometimes(0.5) else []
    tail = [f"{f.name()} covers {section.lower()} for the Courant.", "Have feedback? Email letters@copperfield.example",
            f"Copyright {f.random.randint(2003, 2006)} {outlet} Inc."]
    return head, mid, tail


def lindenwood(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    section = f.pick(SECTIONS)
    head = [f"EXAMINER {section.upper()}", f"{f.pick(DAYS)} {f.date()}", f"{f.name()} — {section} Editor"]
    mid = [f"SEE ALSO: {f.pick(CITIES)} schools to reopen next week"] if f.sometimes(0.4) else []
    tail = [f"— {f.name()}, with reporting from {f.pick(CITIES)}", "Print this page",
            f"Tags: {section.lower()}, {f.pick(CITIES).lower()}"]
    return head, mid, tail


def marlowe(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    section = f.pick(SECTIONS)
    head = [f"{outlet} › {section}", f"{f.name()}, {section.lower()} reporter", f"Updated {f.time()} {f.date()}"]
    mid = [f"[Image: {f.name()}/{outlet}]"] if f.sometimes(0.5) else []
    tail = [f"Read more about {section.lower()}", f"Sources: {f.name()}, {f.name()}",
            "Terms of use | Privacy policy | Contact"]
    return head, mid, tail


def oakhaven(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{f.pick(DAYS)}, {f.date()}", "SENTINEL STAFF REPORT"]
    mid = ["Advertisement — story continues below"] if f.sometimes(0.6) else []
    tail = [f"Contact reporter {f.name()} at {f.random.randint(200, 999)}-{f.random.randint(1000, 9999)}",
            f"This article was reported by {f.name()} and edited by {f.name()}.",
            f"{outlet}, {f.random.randint(2003, 2006)}"]
    return head, mid, tail


OUTLETS_4 = {"Copperfield Courant": copperfield, "Lindenwood Examiner": lindenwood, "Marlowe Tribune": marlowe,
             "Oakhaven Sentinel": oakhaven}
# Set 5, written after set 4 had been run once and before the fix its misses led to: the held-out
# measure of that fix (docs/quality.md, "Held-out cleaning, continued").
def kestrel(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    section = f.pick(SECTIONS)
    head = [f"{outlet} / {section}", f"{f.name()} reports", f"{f.date()} at {f.time()}"]
    mid = [f"Pic: {f.name()}"] if f.sometimes(0.5) else []
    tail = [f"Follow our {section.lower()} coverage", f"Tips to {f.name().split()[0].lower()}@kestrel.example",
            f"(c) {f.random.randint(2003, 2006)} {outlet}"]
    return head, mid, tail


def ashford(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet.upper()} · {f.pick(CITIES).upper()}", f"Posted by {f.name()}"]
    mid = [f"Story continues after this {f.pick(['message', 'advert', 'video'])}"] if f.sometimes(0.5) else []
    tail = [f"{f.name()} is {outlet}'s {f.pick(SECTIONS).lower()} editor.",
            f"Comments ({f.random.randint(0, 90)})", "Back to top"]
    return head, mid, tail


def thornbury(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{f.pick(SECTIONS)} news", f"{f.name()}, {f.pick(CITIES)} correspondent", f"{f.date()}"]
    mid = [f"Audio: {f.name()} explains"] if f.sometimes(0.4) else []
    tail = [f"More in {f.pick(SECTIONS)}", f"Additional writing by {f.name()}",
            f"{outlet} is part of {f.name()} Media"]
    return head, mid, tail


def wexcombe(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{f.pick(CITIES)}, {f.date()}", f"{f.name()} for {outlet}"]
    mid = [f"Map: {f.pick(CITIES)} and surroundings"] if f.sometimes(0.5) else []
    tail = [f"This piece was last reviewed by {f.name()}.", f"Found a mistake? Tell {f.name()}.",
            "Newsletter | Podcasts | Events"]
    return head, mid, tail


OUTLETS_5 = {"Kestrel Herald": kestrel, "Ashford Mercury": ashford, "Thornbury Post": thornbury,
             "Wexcombe Times": wexcombe}
# Set 6, written after set 5 had been run once and before the fix its misses led to.
def larkspur(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} | {f.pick(SECTIONS)} | {f.pick(CITIES)}", f"{f.date()} | {f.time()}",
            f"Author: {f.name()}"]
    mid = [f"Watch: {f.pick(CITIES)} residents react"] if f.sometimes(0.5) else []
    tail = [f"{f.name()} covers the {f.pick(SECTIONS).lower()} beat.",
            f"Send tips to {outlet} at tips@larkspur.example", "Privacy | Terms | Cookies"]
    return head, mid, tail


def millbrook(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"MILLBROOK NEWS — {f.pick(DAYS).upper()} EDITION", f"By {f.name()}, {f.pick(CITIES)}"]
    mid = [f"Photo credit: {f.name()}"] if f.sometimes(0.5) else []
    tail = [f"Copy edited by {f.name()}", f"{f.random.randint(2, 60)} people shared this story",
            f"Millbrook News {f.random.randint(2003, 2006)}"]
    return head, mid, tail


def stonebridge(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{f.pick(CITIES).upper()} ({outlet})", f"{f.name()} | {f.pick(SECTIONS)} desk"]
    mid = [f"Read also: {f.pick(CITIES)} port strike enters second week"] if f.sometimes(0.5) else []
    tail = [f"Reported by {f.name()}. Edited by {f.name()}.", f"Last updated {f.date()}",
            f"© {outlet} and its licensors"]
    return head, mid, tail


def elmstead(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} Weekly",
            f"Issue {f.random.randint(100, 900)}, {f.pick(MONTHS)} {f.random.randint(2003, 2006)}"]
    mid = [f"Sidebar: {f.name()} answers readers' questions"] if f.sometimes(0.4) else []
    tail = [f"{f.name()} wrote this story with {f.name()}.", f"Letters to the editor: {f.name().split()[1].lower()}"
            f"@elmstead.example", f"Subscribe to {outlet} Weekly"]
    return head, mid, tail


OUTLETS_6 = {"Larkspur Bulletin": larkspur, "Millbrook News": millbrook, "Stonebridge Daily": stonebridge,
             "Elmstead Review": elmstead}
# Set 7, written after set 6 had been run once and before the fixes its misses led to.
def brackwater(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} — {f.pick(SECTIONS)}", f"{f.pick(DAYS)} {f.random.randint(1, 28)} {f.pick(MONTHS)}",
            f"Words by {f.name()}"]
    mid = [f"Pull quote: {f.pick(CITIES)} has waited long enough"] if f.sometimes(0.4) else []
    tail = [f"{f.name()} is the {outlet}'s {f.pick(CITIES)} reporter.", "Was this article helpful? Yes | No",
            f"{outlet} {f.random.randint(2003, 2006)}. Reuse with permission."]
    return head, mid, tail


def calder(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{f.pick(SECTIONS).upper()} | {outlet.upper()}", f"{f.name()}, {f.name()} and {f.name()}"]
    mid = [f"Gallery: {f.random.randint(5, 30)} photos from {f.pick(CITIES)}"] if f.sometimes(0.5) else []
    tail = [f"Fact check by {f.name()}", f"Reprints: {f.random.randint(200, 999)}-{f.random.randint(1000, 9999)}",
            f"Posted in {f.pick(SECTIONS)}, {f.pick(SECTIONS)}"]
    return head, mid, tail


def dunmore(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{f.pick(CITIES)} | {f.time()}", f"{f.name()} for the {outlet}"]
    mid = [f"Infographic: {f.name()}"] if f.sometimes(0.5) else []
    tail = [f"Contributors: {f.name()}, {f.name()}", f"The {outlet} welcomes your letters.",
            f"Page {f.random.randint(2, 40)}"]
    return head, mid, tail


def eastwick(f: Filler, outlet: str) -> tuple[list[str], list[str], list[str]]:
    head = [f"{outlet} Morning Edition", f"{f.date()} / {f.name()}"]
    mid = [f"Related video: {f.pick(CITIES)} floods"] if f.sometimes(0.5) else []
    tail = [f"{f.name()} ({f.name().split()[0].lower()}@eastwick.example)", f"Filed under {f.pick(SECTIONS)}",
            "Join the conversation"]
    return head, mid, tail


OUTLETS_7 = {"Brackwater Echo": brackwater, "Calder Times": calder, "Dunmore Courier": dunmore,
             "Eastwick Standard": eastwick}
SPLIT_A = ["Capital Herald", "Coastal News", "Harbor Times", "Metro Wire", "Northside Post"]
SETS = {"1": (OUTLETS, HELD_OUT), "2": (OUTLETS_2, SPLIT_A), "3": (OUTLETS_3, HELD_OUT), "4": (OUTLETS_4, SPLIT_A),
        "5": (OUTLETS_5, HELD_OUT), "6": (OUTLETS_6, SPLIT_A),
        "7": (OUTLETS_7, HELD_OUT)}


def serve(record: dict, outlet: str, template, f: Filler, story_lines: list[str]) -> dict:
    """The record's story as `outlet` serves it: template around it, `story_lines` after its first paragraph."""
    paragraphs = [p for p in record["clean"].split("\n\n") if p.strip()]
    story = paragraphs[:1] + story_lines + paragraphs[1:]
    head, mid, tail = template(f, outlet)
    middle = len(story) // 2 or 1
    text = head + story[:middle] + mid + story[middle:] + tail
    slug = outlet.lower().replace(" ", "")
    return {"id": f"{slug}-{record['id']}", "source": outlet, "url": f"https://{slug}.example/{record['id']}",
            "title": record.get("title", ""), "text": "\n\n".join(text), "clean": "\n\n".join(story)}


def main(source_path: str, out_path: str, template_set: str = "1") -> None:
    templates, held_out = SETS[template_set]
    records = [json.loads(line) for line in open(source_path, encoding="utf-8") if line.strip()]
    stories = [record for record in records if record["source"] in held_out]
    f = Filler(41)
    outlets = list(templates)
    dealt = {outlet: [record for n, record in enumerate(stories) if n % len(outlets) == i]
             for i, outlet in enumerate(outlets)}
    served: dict[str, list[dict]] = {}
    for outlet, mine in dealt.items():
        quoted = set(f.random.sample(range(len(mine)), 3))
        told = set(f.random.sample(range(len(mine)), len(mine) // 4))
        served[outlet] = []
        for n, record in enumerate(mine):
            lines = ([f'"We will look at every option," said {f.name()}.'] if n in quoted else []) + \
                    ([f"{f.name()} told the {outlet} on {f.pick(DAYS)}."] if n in told else [])
            served[outlet].append(serve(record, outlet, templates[outlet], f, lines))
    # Interleaved, as an archive of several outlets arrives.
    out = [served[outlet][n] for n in range(max(map(len, served.values()))) for outlet in outlets
           if n < len(served[outlet])]
    with open(out_path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in out)
    print(f"{len(out)} records of {len(outlets)} outlets (stories of {', '.join(held_out)}) written to {out_path}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
