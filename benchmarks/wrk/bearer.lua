-- GET with a bearer token per request, round robin over a tokens file (one token a line).
-- wrk -s bearer.lua URL -- TOKENS_FILE. One Lua state per wrk thread: run with -t 1.
local tokens = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  assert(#tokens > 0, "bearer.lua: no tokens in " .. tostring(args[1]))
end

function request()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] }, nil)
end
