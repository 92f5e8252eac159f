import json, sys, statistics as st
# pool per-config: runs' medians of per-pair differences, and pooled pairs
def labels(jsonl):
    out=[]
    for l in open(jsonl):
        d=json.loads(l)
        if 'split_ms' not in d: continue
        t='old' if 'old' in d['tree'] else ('new+sym' if d.get('env') else 'new')
        out.append((t,d))
    return out
keys=["prepare out","prepare in","call wall - op","call in","claim","slack"]
res={}
for jsonl, raw in zip(sys.argv[1::2], sys.argv[2::2]):
    labs=labels(jsonl)
    raws=[json.loads(l) for l in open(raw)]
    assert len(raws)==len(labs),(len(raws),len(labs))
    for (t,d),r in zip(labs,raws):
        e=res.setdefault(t,{'runs':[], 'pairs':{k:[] for k in keys}, 'load':[], 'sp':[]})
        e['runs'].append(d['split_ms']); e['load']+=d['load']; e['sp'].append((round(d['speedup'],3),[round(x,2) for x in d['ci']]))
        for c,rr in zip(r['cand'],r['clean']):
            for k in keys: e['pairs'][k].append(c[k]-rr[k])
for t,e in res.items():
    print(t, 'runs',len(e['runs']),'load',min(e['load']),'-',max(e['load']))
    for k in keys:
        meds=[x[k][2] for x in e['runs']]
        print(f"  {k:15s} run medians: median {st.median(meds):+.4f}  [{min(meds):+.3f}..{max(meds):+.3f}]  pooled pairs median {st.median(e['pairs'][k]):+.4f} (n={len(e['pairs'][k])})")
    print('  speedups', e['sp'])
