import json, sys, statistics
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.startswith('{')]
by = {}
for d in rows:
    if d.get('verdict') == 'error':
        print('ERR', d['tree'], d.get('reason','')[-300:]); continue
    w = d['judge']['windows']; c, r = d['cand'], d['ref']
    lo, hi = d['ci']
    ok = d['verdict'] == 'accepted' and lo <= 1.0 <= hi
    ex = [x['cand_out'] - x['ref_out'] for x in w]; raw = [x['cand_out_raw'] - x['ref_out_raw'] for x in w]
    ch = [x['charge'] for x in w]
    by.setdefault(d['tree'], []).append((ok, ex, ch))
    print('%s %s %-4s ok=%d %.3f [%.2f,%.2f] stops c%.2f r%s stop_ms %s | prep %+.3f call %+.3f stopping c%.3f r%.3f | excess %s raw %s charge %s allow~%.3f' % (
        d['at'], d['load'], d['tree'], ok, d['speedup'], lo, hi, d['cand_stops_per_call'], [x['ref_stops'] for x in w][:1],
        [round(x, 3) for x in d['judge']['stop_ms']],
        c['req:prepare'] - r['req:prepare'], c.get('continuing', 0) + c['req:time_call'] - r['req:time_call'] - r.get('continuing', 0),
        c['stopping'], r['stopping'], [round(x, 3) for x in ex], [round(x, 3) for x in raw], [round(x or 0, 3) for x in ch],
        0.1 + 0.15 * w[0]['ref_claim']))
for t, v in by.items():
    print(t, 'passed %d of %d' % (sum(o for o, _, _ in v), len(v)), 'charged %d' % sum(any(c for c in ch) for _, _, ch in v),
          'median excess %.3f' % statistics.median(e for _, ex, _ in v for e in ex))
