-- POST one fixed JSON body read from a file, with a bearer token.
-- wrk -s post.lua URL -- BODY_FILE TOKEN. The request is built once, in init.
local req

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local body = f:read("*a")
  f:close()
  req = wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. args[2],
  }, body)
end

function request()
  return req
end
