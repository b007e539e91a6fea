-- POST /auth/refresh chains: every session always presents its newest refresh token.
-- wrk -s refresh.lua URL -- TOKENS_FILE (one refresh token a line, one session each; at least as many as
-- connections). wrk does not say which connection a response belongs to, so the tokens form a pool: a request
-- takes one, its 200 answer puts the successor back. A session is never presented twice, so a healthy run has
-- no reuse errors; a failed refresh drops its session, and an empty pool sends a token that must fail (counted
-- as non-2xx, never hidden). One Lua state per wrk thread: run with -t 1.
local pool = {}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then pool[#pool + 1] = line end
  end
  assert(#pool > 0, "refresh.lua: no tokens in " .. tostring(args[1]))
end

function request()
  local token = table.remove(pool) or "pool-empty"
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if token then table.insert(pool, 1, token) end
  end
end
