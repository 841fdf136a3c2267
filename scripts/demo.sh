#!/usr/bin/env bash
# Set everything up and run the main job on real sample data:
#   1. convert Google's DeepLab-v3 MobileNetV2 graph (depth 1.0) to an int8 TFLite model with its
#      model card and accuracy report (once; kept in models/),
#   2. with the edge runtime (the environment a Pi gets), blur the background behind the people
#      in the sample photos and the sample video, and score the model on the labelled photos.
# Outputs land in out/demo/. Sample data: ../shared/data (or $PIBOKEH_SHARED).
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${PIBOKEH_SHARED:-../shared/data}"
if [ ! -d "$shared/voc" ]; then
  echo "demo: sample data not found at $shared (set PIBOKEH_SHARED)" >&2
  exit 2
fi
full=$(scripts/setup.sh full)
edge=$(scripts/setup.sh edge)
model=models/mnv2_int8.tflite
if [ ! -f "$model" ] || [ ! -f "${model%.tflite}.json" ]; then
  echo "demo: converting the depth-1.0 graph to int8 (calibration and validation take a few minutes)"
  "$full/bin/pibokeh-convert" "$shared/frozen_graphs/deeplabv3_mnv2_dm10_pascal_weightquant.pb" \
    -o "$model" --quant int8 --calib "$shared/calib" --eval "$shared/voc"
fi
out=out/demo
echo "demo: model"
"$edge/bin/pibokeh" info --model "$model" | sed -n 1,7p
echo "demo: blurring the backgrounds of the sample photos and video into $out/"
"$edge/bin/pibokeh" blur "$shared"/voc/*.jpg "$shared"/video/*.mp4 -o "$out" --model "$model"
"$edge/bin/pibokeh" mask "$shared"/voc/*.jpg -o "$out/masks" --model "$model" --quiet
echo "demo: accuracy on the labelled photos"
"$edge/bin/pibokeh" eval --data "$shared/voc" --model "$model" | sed -n 1,5p
echo "demo: done; look at $out/ (blurred photos and video), $out/masks/, and ${model%.tflite}.png"
