#!/usr/bin/env bash
# Set everything up and run the main job on real sample data:
#   1. convert Google's DeepLab-v3 MobileNetV2 graph (depth 1.0) into the recommended fast models --
#      int8, output stride 16, the logits head (the mask step upsamples one margin channel), one for
#      16:9 frames (513x289, with its accuracy report) and one for 4:3 (513x385) -- with their model
#      cards, into the user data folder where `pibokeh` finds them (once: a second run converts nothing),
#   2. with the edge runtime (the environment a Pi gets), blur the background behind the people in
#      the sample photos and the sample video, each input by the model of its aspect, and score the
#      models on the labelled photos.
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
graph="$shared/frozen_graphs/deeplabv3_mnv2_dm10_pascal_weightquant.pb"
models_dir=$("$edge/bin/python" -c "from pibokeh.model.locations import models_dir; print(models_dir())")
wide=mnv2_os16_513x289_int8.tflite    # 16:9 frames (1920x1080, 1280x720, 854x480 video)
four_three=mnv2_os16_513x385_int8.tflite  # 4:3 frames (640x480 cameras, most photos)
convert() {  # convert NAME WxH [--eval DIR]: once, into the user data folder (a bare -o name goes there)
  local name=$1 size=$2
  shift 2
  if [ -f "$models_dir/$name" ] && [ -f "$models_dir/${name%.tflite}.json" ]; then
    echo "demo: $models_dir/$name is there already"
    return
  fi
  echo "demo: converting the depth-1.0 graph to $name (int8, output stride 16, logits head, $size; about a minute on 2 cores)"
  local start=$SECONDS
  "$full/bin/pibokeh-convert" "$graph" -o "$name" --quant int8 --output-stride 16 --size "$size" \
    --output logits --calib "$shared/calib" "$@"
  echo "demo: converted $name in $((SECONDS - start)) s"
}
convert "$wide" 513x289 --eval "$shared/voc"
convert "$four_three" 513x385
models=(--model "$models_dir/$wide" --model "$models_dir/$four_three")
out=out/demo
echo "demo: the converted models (what each one is: \`pibokeh info --model FILE\`)"
"$edge/bin/pibokeh" models | sed -n '/converted models/,/fetched models/p' | sed '$d'
echo "demo: blurring the backgrounds of the sample photos and video into $out/ (each by the model of its aspect)"
"$edge/bin/pibokeh" blur "$shared"/voc/*.jpg "$shared"/video/*.mp4 -o "$out" "${models[@]}"
"$edge/bin/pibokeh" mask "$shared"/voc/*.jpg -o "$out/masks" "${models[@]}" --quiet
echo "demo: accuracy on the labelled photos"
"$edge/bin/pibokeh" eval --data "$shared/voc" "${models[@]}" --quiet | sed '/^  /,$d'  # up to the per-class lines
echo "demo: done in $SECONDS s; look at $out/ (blurred photos and video), $out/masks/," \
     "and $models_dir/${wide%.tflite}.png (the accuracy picture)"
