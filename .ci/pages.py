# pages.py BASE TOKEN FILTER SORT — the list pages the app asks, at any size:
# page 1 with count=true, then pages 2..100 by next_cursor, three rounds,
# one request at a time. Prints client-side p50/p99; run the server with
# --log-level debug and read dur_ms from its log for server time (see
# docs/performance.md, "The workspace app").
import json, sys, time, urllib.parse, urllib.request
base, tok, flt, srt = sys.argv[1:5]
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + tok})
    t = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        body = json.load(r)
    return body, (time.perf_counter() - t) * 1000
first, later = [], []
for rnd in range(3):
    q = {"limit": "50", "count": "true"}
    if flt: q["filter"] = flt
    if srt: q["sort"] = srt
    cursor = None
    for page in range(100):
        qq = dict(q)
        if cursor:
            qq["cursor"] = cursor
            qq.pop("count")
        body, ms = get("/api/v1/records/deal?" + urllib.parse.urlencode(qq))
        (first if page == 0 else later).append(ms)
        cursor = body.get("next_cursor")
        if not cursor: break
def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))]
print("page 1 (count): n=%d p50=%.1f p99=%.1f ms; pages 2-100: n=%d p50=%.1f p99=%.1f ms" % (
    len(first), pct(first, .5), pct(first, .99), len(later), pct(later, .5), pct(later, .99)))
