-- One fixed request, from the arguments after `--`: METHOD PATH AUTHORIZATION [BODY].
-- Any answer but 200 is counted and reported: a benchmark with errors is no result.
dofile("tests/load/failures.lua")

function init(args)
  wrk.method = args[1]
  wrk.path = args[2]
  if args[3] ~= "" then
    wrk.headers["Authorization"] = args[3]
  end
  if args[4] then
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    wrk.body = args[4]
  end
  failures = 0
end

function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
  end
end
