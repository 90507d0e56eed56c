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
  MODEL_UI_API_URL="http://127.0.0.1:$api_port" uv run streamlit run services/ui/src/model_ui/app.py \
    --server.port "$ui_port" --server.address 127.0.0.1 &
  pids+=($!)
fi
echo "API: http://localhost:$api_port/docs   UI: http://localhost:$ui_port   (Ctrl-C stops both)"
wait -n "${pids[@]}"
