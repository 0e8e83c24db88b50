-- Shared by the scripts: count answers that are not what the scenario expects, and
-- report their sum over the threads when wrk is done (a run with errors is no result).
threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
  end
  io.write(string.format("failures: %d\n", failed))
end
