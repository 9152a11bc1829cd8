-- wrk script: replays requests prepared by bench_posts.py and counts non-2xx answers.
--
--   wrk ... -s bench/requests.lua <url> -- <requests.jsonl> <threads>
--
-- Each line of the file is one JSON object {"method", "path", "headers", "body"}. Thread i
-- of n takes lines i, i+n, i+2n, ... so no two threads send the same request (a signed
-- request carries a unique nonce), and cycles through its share; `wrapped` in the summary
-- says how often a thread ran out of fresh requests.

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then
    return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
  end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40,
                       0x80 + cp % 0x40)
  end
  return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
                     0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
                  r = "\r", t = "\t" }

-- A small JSON decoder: enough for the lines the Python side writes (json.dumps output).
local function json_decode(s)
  local pos = 1
  local value

  local function skip()
    pos = s:find("[^ \t\r\n]", pos) or #s + 1
  end

  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == '"' then
        pos = pos + 1
        return table.concat(out)
      elseif c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        if e == "u" then
          local cp = tonumber(s:sub(pos + 2, pos + 5), 16)
          pos = pos + 6
          if cp >= 0xD800 and cp < 0xDC00 and s:sub(pos, pos + 1) == "\\u" then
            local low = tonumber(s:sub(pos + 2, pos + 5), 16)
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00)
            pos = pos + 6
          end
          out[#out + 1] = utf8_char(cp)
        else
          out[#out + 1] = ESCAPES[e] or error("bad escape at " .. pos)
          pos = pos + 2
        end
      elseif c == "" then
        error("unterminated string")
      else
        local stop = s:find('["\\]', pos) or #s + 1
        out[#out + 1] = s:sub(pos, stop - 1)
        pos = stop
      end
    end
  end

  function value()
    skip()
    local c = s:sub(pos, pos)
    if c == "{" or c == "[" then
      local obj, close, n = {}, (c == "{") and "}" or "]", 0
      pos = pos + 1
      skip()
      if s:sub(pos, pos) == close then
        pos = pos + 1
        return obj
      end
      while true do
        if close == "}" then
          skip()
          local key = str()
          skip()
          pos = pos + 1 -- ':'
          obj[key] = value()
        else
          n = n + 1
          obj[n] = value()
        end
        skip()
        local sep = s:sub(pos, pos)
        pos = pos + 1
        if sep == close then return obj end
        if sep ~= "," then error("expected ',' or '" .. close .. "' at " .. pos) end
      end
    elseif c == '"' then
      return str()
    end
    for word, v in pairs({ ["true"] = true, ["false"] = false, ["null"] = false }) do
      if s:sub(pos, pos + #word - 1) == word then
        pos = pos + #word
        if word == "null" then return nil end
        return v
      end
    end
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not num or num == "" then error("unexpected '" .. c .. "' at " .. pos) end
    pos = pos + #num
    return tonumber(num)
  end

  return value()
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local requests = {}
local next_index = 0
non2xx = {}
responses = 0
wrapped = 0

function init(args)
  local path, nthreads = args[1], tonumber(args[2] or "1")
  local file = assert(io.open(path, "r"))
  local line_no = 0
  for line in file:lines() do
    if line:find("%S") then
      if line_no % nthreads == id then
        local r = json_decode(line)
        requests[#requests + 1] = wrk.format(r.method, r.path, r.headers or {}, r.body)
      end
      line_no = line_no + 1
    end
  end
  file:close()
  assert(#requests > 0, "no requests for thread " .. id .. " in " .. path)
end

function request()
  next_index = next_index + 1
  if next_index > #requests then
    next_index = 1
    wrapped = wrapped + 1
  end
  return requests[next_index]
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx[status] = (non2xx[status] or 0) + 1
  end
end

function done(summary, latency, reqs)
  local total, wraps, counts = 0, 0, {}
  for _, thread in ipairs(threads) do
    total = total + thread:get("responses")
    wraps = wraps + thread:get("wrapped")
    for status, count in pairs(thread:get("non2xx")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format('"%d": %d', status, count)
  end
  io.write(string.format('BENCH_RESULT {"responses": %d, "wrapped": %d, "non2xx": {%s}}\n',
                         total, wraps, table.concat(parts, ", ")))
end
