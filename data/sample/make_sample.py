"""Rebuild the sample catalogue from ../shared/data/myntra-fashion-small (run from the project root).

500 rows that have a photo, stratified by articleType (a quota proportional to each type, at
least one per type), chosen with a fixed seed so the sample is the same on every run.
"""

import csv
import random
import shutil
from collections import defaultdict
from pathlib import Path

SOURCE = Path("../shared/data/myntra-fashion-small")
TARGET = Path("data/sample")
SIZE = 500
SEED = 20261128


def main() -> None:
    with (SOURCE / "styles_clean.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = [row for row in reader if (SOURCE / "images" / f"{row['id']}.jpg").exists()]
    by_type: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: int(r["id"])):
        by_type[row["articleType"]].append(row)
    rng = random.Random(SEED)
    chosen: list[dict[str, str]] = []
    for article_type in sorted(by_type):
        group = by_type[article_type]
        quota = max(1, round(SIZE * len(group) / len(rows)))
        chosen.extend(rng.sample(group, min(quota, len(group))))
    chosen = sorted(rng.sample(chosen, min(SIZE, len(chosen))), key=lambda r: int(r["id"]))
    (TARGET / "images").mkdir(parents=True, exist_ok=True)
    with (TARGET / "styles.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(chosen)
    for row in chosen:
        shutil.copyfile(SOURCE / "images" / f"{row['id']}.jpg", TARGET / "images" / f"{row['id']}.jpg")
    print(f"{len(chosen)} rows, {len({r['articleType'] for r in chosen})} article types")


if __name__ == "__main__":
    main()
