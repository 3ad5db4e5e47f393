"""heed's benchmark: throughput, latency and cost per token of the real server against a PyTorch eager baseline.

    python -m bench [--quick | --full] [--models-dir artifacts] [--model en-de] [--duration S] [--out DIR]

One run on one machine starts heed's server (batching on, then a second one with batching off) and a
minimal FastAPI server around the same weights in plain PyTorch (`bench.torch_server`; dequantized to
float32 where the pair ships only as an int8 bundle, see `bench.rebuild`), drives each over
HTTP with 1, 8, 32 and 64 closed-loop clients sending test_2016_flickr sentences, greedy and beam 4, and
writes `bench/results/<date>-<host>.json` and `.md` (`<date>-<host>-quick.*` for --quick, so a smoke run
never replaces a real measurement) with every target of issue 7 checked. After the scenarios, heed also gets the
document workload of issue 15 (bench.documents: paragraphs of 3-8 sentences sent as one text, beside the same
sentences one request each). Results of real runs are committed.
"""
