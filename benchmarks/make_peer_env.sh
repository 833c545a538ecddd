#!/bin/sh
# Create benchmarks/peer-env/: a separate virtual environment with the `insightface`
# package from PyPI, for the peer run of benchmarks/bench_pipeline.py. OpenLFR's own
# environment never gets insightface (it needs opencv-python, which clashes with OpenLFR's
# opencv-python-headless). Re-running it rebuilds the environment.
#
#   sh benchmarks/make_peer_env.sh            # uses python3
#   PYTHON=python3.11 sh benchmarks/make_peer_env.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
env="$here/peer-env"
python=${PYTHON:-python3}
rm -rf "$env"
"$python" -m venv "$env"
"$env/bin/python" -m pip install --quiet --upgrade pip
"$env/bin/python" -m pip install --quiet -r "$here/peer-requirements.txt"
"$env/bin/python" -c "import insightface, onnxruntime; print('peer-env: insightface',
insightface.__version__, 'onnxruntime', onnxruntime.__version__)"
