#!/usr/bin/python3
"""layers.py - fails when the files of a part of pubsub call each other in
a circle.

    layers.py [--show] NAME=DIR...

Each NAME=DIR is one part (brokerd, libpubsub): DIR holds its object
files, one per source file.  The graph is read from the objects, not the
sources, so that it is exactly what the linker joins: `nm` lists the
global symbols each object defines (functions and data) and those it
leaves undefined; file X depends on file Y when X.o uses a symbol Y.o
defines.  A part is layered when that graph has no circle, that is no
strongly connected component of more than one file (and no file that
needs another which needs it back).  Every circle found is printed, one
line per component with the edges that close it, and the exit status is
1.  With --show the files are also printed by layer, the bottom first
(layer 0 needs no other file of its part), which is the diagram of
docs/design.md.  Symbols of other parts and libraries are ignored: they
cannot close a circle inside the part.
"""
import os
import subprocess
import sys


def symbols(obj):
    """(defined, undefined) global symbol names of one object file."""
    out = subprocess.run(["nm", "-g", "-P", obj], check=True, capture_output=True,
                         text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name, kind = fields[0], fields[1]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDBRVWGSC" or kind in "vw":
            defined.add(name)
    return defined, undefined


def graph(objdir):
    """{file: {file it uses: [symbols]}} for the objects in objdir."""
    objs = sorted(f for f in os.listdir(objdir) if f.endswith(".o"))
    if not objs:
        raise SystemExit(f"layers.py: no object files in {objdir} (build first)")
    owner, uses = {}, {}
    for f in objs:
        name = f[:-2]
        defined, undefined = symbols(os.path.join(objdir, f))
        for s in defined:
            owner[s] = name
        uses[name] = undefined
    edges = {}
    for name, undefined in uses.items():
        edges[name] = {}
        for s in sorted(undefined):
            to = owner.get(s)
            if to and to != name:
                edges[name].setdefault(to, []).append(s)
    return edges


def components(edges):
    """Strongly connected components (Tarjan), each a sorted list."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layers(edges):
    """Layer of each file of an acyclic graph: 0 uses nothing, else one
    more than the highest it uses."""
    level = {}

    def depth(v):
        if v not in level:
            level[v] = 0
            level[v] = 1 + max((depth(w) for w in edges[v]), default=-1)
        return level[v]

    for v in edges:
        depth(v)
    return level


def check(name, objdir, show):
    edges = graph(objdir)
    circles = [c for c in components(edges) if len(c) > 1]
    n_edges = sum(len(e) for e in edges.values())
    if circles:
        for comp in circles:
            inside = set(comp)
            back = [f"{a}->{b} ({edges[a][b][0]})" for a in comp for b in sorted(edges[a])
                    if b in inside]
            print(f"{name}: circle of {len(comp)} files: {' '.join(comp)}")
            print(f"    edges inside it: {', '.join(back)}")
        return False
    if show:
        level = layers(edges)
        for lv in range(max(level.values(), default=0), -1, -1):
            files = sorted(f for f in level if level[f] == lv)
            uses = ["%s -> %s" % (f, " ".join(sorted(edges[f]))) for f in files if edges[f]]
            print(f"{name} layer {lv}: {' '.join(files)}")
            for u in uses:
                print(f"    {u}")
    print(f"{name}: {len(edges)} files, {n_edges} file-to-file dependencies, no circle")
    return True


def main(argv):
    show = "--show" in argv
    parts = [a for a in argv if a != "--show"]
    if not parts or any("=" not in p for p in parts):
        raise SystemExit("usage: layers.py [--show] NAME=OBJDIR...")
    ok = True
    for p in parts:
        name, objdir = p.split("=", 1)
        ok = check(name, objdir, show) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
