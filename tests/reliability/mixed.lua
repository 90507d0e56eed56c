-- Mixed traffic for the load test: v1 predict (1 and 20 rows), explain, V2 infer, metadata.
local adelie = '{"bill_length_mm":39.1,"bill_depth_mm":18.7,"flipper_length_mm":181,"body_mass_g":3750,"island":"Torgersen","sex":"male"}'
local many = {}
for i = 1, 20 do many[i] = adelie end
local requests = {
  {"POST", "/v1/models/penguin-species/predict", '{"instances":[' .. adelie .. ']}'},
  {"POST", "/v1/models/penguin-species/predict", '{"instances":[' .. table.concat(many, ",") .. ']}'},
  {"POST", "/v1/models/penguin-species/explain", '{"instances":[' .. adelie .. ']}'},
  {"POST", "/v2/models/penguin-species/infer", '{"inputs":[{"name":"x","shape":[1,6],"datatype":"FP32","data":[39.1,18.7,181,3750,2,1]}]}'},
  {"POST", "/v2/models/penguin-mass/infer", '{"inputs":[{"name":"x","shape":[1,6],"datatype":"FP32","data":[39.1,18.7,181,0,2,1]}]}'},
  {"GET", "/v1/models/penguin-species", nil},
  {"GET", "/v1/models", nil},
}
local counter = 0
request = function()
  counter = counter + 1
  local r = requests[(counter % #requests) + 1]
  return wrk.format(r[1], r[2], {["Content-Type"] = "application/json"}, r[3])
end

-- Print machine-readable totals for the test to parse.
done = function(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p99_us=%d\n",
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout, latency:percentile(99)))
end
