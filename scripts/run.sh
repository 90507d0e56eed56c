#!/usr/bin/env bash
# Start the API and the UI together; Ctrl-C (or SIGTERM) stops both.
set -euo pipefail
models="${1:-models}" api_port="${2:-8000}" ui_port="${3:-8501}"
pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }
trap stop EXIT INT TERM

MODEL_API_MODEL_REPOSITORY="$models" uv run model-api serve --port "$api_port" &
pids+=($!)
if [[ -f services/ui/src/model_ui/app.py ]]; then
  # model-ui applies services/ui/.streamlit/config.toml as flags, whatever the working directory.
  uv run model-ui --api-url "http://127.0.0.1:$api_port" --port "$ui_port" --address 127.0.0.1 &
  pids+=($!)
fi
echo "API: http://localhost:$api_port/docs   UI: http://localhost:$ui_port   (Ctrl-C stops both)"
wait -n "${pids[@]}"
