-- The refresh_token grant with rotation. Arguments after `--`: TOKENS_FILE THREADS
-- AUTHORIZATION. Each thread takes its share of the tokens (one family each); a
-- request uses a token the thread holds and the answer's new token goes back to the
-- thread's pool, so each family's token is used exactly once, as a client would.
dofile("tests/load/failures.lua")

function init(args)
  pool = {}
  failures = 0
  local share, i = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if i % share == id - 1 then
      table.insert(pool, line)
    end
    i = i + 1
  end
  authorization = args[3]
end

function request()
  local token = table.remove(pool)
  if token == nil then
    -- More connections than tokens: a wrong setup, counted as failures.
    token = "none-left"
  end
  return wrk.format("POST", "/token", {
    ["Authorization"] = authorization,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = status == 200 and body:match('"refresh_token":"([^"]+)"')
  if token then
    table.insert(pool, token)
  else
    failures = failures + 1
  end
end
