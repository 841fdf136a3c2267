"""The benchmarks behind docs/BENCHMARKS.md, as one package run from the repository root:

    python -m scripts.benchmarks                      # measure every topic, then write the page
    python -m scripts.benchmarks --only throughput    # measure these topics; the rest from saved data
    python -m scripts.benchmarks --saved              # write the page from saved data, measure nothing
    python -m scripts.benchmarks.throughput --help    # one topic on its own

**A topic module** is a module of this package named in `TOPICS` below. It has:

- `measure(...) -> dict`: runs the measurement and returns JSON-able data. Every argument has a
  default, and `measure()` with none is what the page shows (the page generator calls it so). What
  it cannot measure here (../shared/data missing, no converter) is a one-line
  `pibokeh.errors.InputError` (or RuntimeError): the page then keeps the section's last figures.
- `render(data: dict) -> str`: the topic's section of the page in Markdown, beginning with its own
  `## ` heading, from that data alone (no measuring, no files read: what is not in `data` is not on
  the page).
- `main(argv=None) -> int`: the command line (`python -m scripts.benchmarks.TOPIC`): its options
  for `measure`, prints the section (or the data with `--json`), and with `--save [DIR]` writes the
  data where the page generator reads it (`cli.run` does all but the options).
- optionally `plot(data: dict, folder: Path) -> None`: draws the section's figures into docs/img
  (matplotlib), for images the section links as `img/NAME.png`.

The page generator (`page.py`) saves each topic's data as docs/measurements/TOPIC.json (`results.py`:
stamped with the date, host and command), renders the sections in the order of `TOPICS`, and skips a
name whose module is not there (topics written in other branches arrive with their merge). A topic
with no data keeps the section the page had (its block between `<!-- benchmarks: TOPIC -->` markers),
so measuring one topic never loses another's figures.

Other modules: `cli` (the command line every topic shares: `cli.run(topic, parser, measure, render)`
gives `--json`, `--save` and one-line errors), `inputs` (../shared/data, clips scaled to a frame
size), `tools` (the project's own commands in processes of their own), `results` (saved data),
`markdown` (tables), `reference_graph` (the notebook's pipeline: the TF1 graph in a session),
`model_matrix` and `pi_estimate` (the fast models' matrix; Raspberry Pi figures scaled from a
published one), `latency_worker` (run in the edge environment by `fast_models`), and `stride` (the
converter's output stride x input shape measurement behind docs/CONVERTER.md; not a page topic).

The package may import the runtime (`pibokeh`) and the converter (`pibokeh.convert`); they never
import it. TensorFlow is imported only where the reference graph runs, so the modules that run in the
edge environment (`latency_worker`, `throughput`, `encoders`) import without it.
"""

# The page's sections, in order. accelerators, compositing and look come from other branches: a name
# whose module is missing is skipped.
TOPICS = ("reference", "fast_models", "quantization", "throughput", "accelerators", "compositing", "look",
          "encoders", "memory")
