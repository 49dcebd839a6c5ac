#!/usr/bin/env python3
"""Compare every golden JSON in testdata/golden with tcpdump -nn -r of its capture:
the same TCP segments, in the same order, with the same flags and payload lengths
(for TCP only inside a tunnel, tcpdump's inner lines). Run from the repository root: python3 scripts/compare-goldens-tcpdump.py (needs tcpdump)."""
import json,re,subprocess,sys,glob
fl={'S':'SYN','F':'FIN','R':'RST','P':'PSH','.':'ACK','U':'URG','E':'ECE','W':'CWR'}
bad=0
for f in sorted(glob.glob('testdata/*.pcap')+glob.glob('testdata/*.pcapng')):
    td=subprocess.run(['tcpdump','-nn','-tt','-r',f,'tcp'],capture_output=True,text=True).stdout.splitlines()
    if not td:
        # TCP only inside a tunnel (tunnel-tenants.pcap: VXLAN), which the
        # filter "tcp" does not reach: tcpdump prints the inner segment on
        # the line after the outer header; give it the outer line's time.
        lines=subprocess.run(['tcpdump','-nn','-tt','-r',f],capture_output=True,text=True).stdout.splitlines()
        td=[lines[i-1].split()[0]+' '+l for i,l in enumerate(lines) if i>0 and 'Flags [' in l]
    ours=[json.loads(l) for l in open('testdata/golden/'+f.split('/')[-1].replace('.pcapng','.ng').replace('.pcap','')+'.json') if '"type":"segment"' in l]
    if len(td)!=len(ours):
        print(f,'count',len(td),len(ours)); bad+=1; continue
    for a,b in zip(td,ours):
        m=re.search(r'Flags \[([^\]]*)\]',a)
        flags=set(fl[c] for c in m.group(1))
        lm=re.search(r'length (\d+)',a)
        if lm: ln=int(lm.group(1))
        else:
            # snap length 64: tcpdump cuts the line ([|tcp]) but prints seq a:b for data
            r=re.search(r'seq (\d+):(\d+)',a); ln=int(r.group(2))-int(r.group(1)) if r else 0
        t=float(a.split()[0])
        tb=b['time']
        if flags!=set(b['flags']) or ln!=b['len']:
            print(f,'mismatch',a[:90],b['flags'],b['len']); bad+=1; break
    print(f, len(td), 'segments agree with tcpdump -nn (flags, length, order)')
print('mismatches',bad)
sys.exit(1 if bad else 0)
