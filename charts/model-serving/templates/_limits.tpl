{{/*
Bytes in a Kubernetes quantity: "1Gi", "512Mi", "1G", "1e9", 1073741824.
*/}}
{{- define "model-serving.bytes" -}}
{{- $quantity := toString . }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?" $quantity }}
{{- $suffix := trimPrefix $number $quantity }}
{{- $units := dict "" 1 "m" 0.001 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "P" 1000000000000000 "E" 1000000000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 "Ei" 1152921504606846976 }}
{{- if or (not $number) (not (hasKey $units $suffix)) }}
{{- fail (printf "%q is not a quantity of bytes (e.g. 512Mi, 1Gi)" $quantity) }}
{{- end }}
{{- mulf (float64 $number) (index $units $suffix) | int64 }}
{{- end }}

{{/*
The API's body limits and byte budgets (MODEL_API_* env entries), derived from the pod so they
cannot disagree with it: CSV uploads past 8 MiB are spooled to /tmp, whose emptyDir evicts the pod
when full, so the disk budget is api.tmp.sizeLimit minus 64 MiB of room for everything else; bodies
held in memory get a quarter of the memory limit. Values that cannot fit are refused here.
*/}}
{{- define "model-serving.api.bodyLimitsEnv" -}}
{{- $api := .Values.api }}
{{- $mib := 1048576 }}
{{- $maxRequest := int64 $api.settings.maxRequestBytes }}
{{- $maxCsv := int64 $api.settings.maxCsvBytes }}
{{- $tmp := include "model-serving.bytes" $api.tmp.sizeLimit | int64 }}
{{- $diskBudget := sub $tmp (mul 64 $mib) }}
{{- if and (gt $maxCsv (mul 8 $mib)) (lt $diskBudget $maxCsv) }}
{{- fail (printf "api.settings.maxCsvBytes (%d) does not fit in api.tmp.sizeLimit (%s) minus 64 MiB: CSV uploads are spooled to /tmp, and a full /tmp gets the pod evicted; raise api.tmp.sizeLimit or lower maxCsvBytes" $maxCsv (toString $api.tmp.sizeLimit)) }}
{{- end }}
- name: MODEL_API_MAX_REQUEST_BYTES
  value: {{ $maxRequest | quote }}
- name: MODEL_API_MAX_CSV_BYTES
  value: {{ $maxCsv | quote }}
- name: MODEL_API_MAX_BODY_DISK_BYTES
  value: {{ max $diskBudget 0 | quote }}
{{- with dig "limits" "memory" "" $api.resources }}
{{- $memoryBudget := div (include "model-serving.bytes" . | int64) 4 }}
{{- $needed := max $maxRequest (min $maxCsv (mul 8 $mib)) }}
{{- if lt $memoryBudget $needed }}
{{- fail (printf "api.resources.limits.memory (%s) is too small for the request bodies: a quarter of it (%d bytes) holds them, and one body of api.settings.maxRequestBytes (or 8 MiB of a CSV upload) needs %d" (toString .) $memoryBudget $needed) }}
{{- end }}
- name: MODEL_API_MAX_BODY_MEMORY_BYTES
  value: {{ $memoryBudget | quote }}
{{- end }}
{{- end }}
