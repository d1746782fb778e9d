"""The Redis side of the send rate limiter: one Lua script, run atomically.

Why a sliding-window log and not GCRA or fixed windows: the promise is "never
more than N messages in ANY 1-second window". A fixed window lets 2N through
across a boundary and GCRA with a burst of N does the same over its first
second, while a log of grants checks the exact window. The log is small
because callers acquire chunks (one entry per acquire, not per message).

Why one script for all three keys: checking the traffic-account, shop and
global limits separately would let two workers each pass one check and
together exceed another; inside a script nothing interleaves.

Why ``TIME`` inside the script: workers on different machines have skewed
clocks; the server's clock is the only one every grant is measured against.
(Needs Redis >= 5, where scripts replicate their effects, not the script.)
"""

from __future__ import annotations

# KEYS: one sorted set per limit (traffic account, shop, global).
# ARGV: count, window in microseconds, unique member prefix, then one limit per key.
# Members are "<prefix>:<count>" scored by grant time in microseconds.
# Returns 0 when granted (and recorded in every key), else the microseconds to wait
# until the oldest grants that block the request have left the window.
SLIDING_WINDOW_LUA = """
local count = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- Lua would print a 16-digit number as 1.7e+15 and lose the microseconds.
local function exact(n)
  return string.format('%.0f', n)
end

local function weight(member)
  return tonumber(string.match(member, ':(%d+)$'))
end

local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', exact(now - window))
  local log = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local used = 0
  for j = 1, #log, 2 do
    used = used + weight(log[j])
  end
  -- Oldest first: the wait is until enough of them have aged out for us to fit.
  local j = 1
  while used + count > limit and j < #log do
    used = used - weight(log[j])
    wait = math.max(wait, tonumber(log[j + 1]) + window - now)
    j = j + 2
  end
end
if wait > 0 then
  return wait
end

local member = ARGV[3] .. ':' .. count
local ttl_ms = math.ceil(window / 1000) + 1000
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, exact(now), member)
  redis.call('PEXPIRE', key, ttl_ms)
end
return 0
"""
