#!/bin/bash
# brokerd and libpubsub are built in one-way layers: no file of it calls, through any
# chain of other files, back into itself (docs/design.md draws the
# layers).  tests/tools/layers.py reads the graph from the object files
# the build made (what each .o defines and uses, by nm) and fails on any
# circle, naming its files and the edges inside it.  It is checked to
# catch one: a copy of the objects with a planted back edge (a bottom
# file made to use main.o's symbol) must fail.
. "$(dirname "$0")/lib.sh"
command -v nm > /dev/null || fail "nm (binutils) is not installed"
LAYERS=$TESTS/tools/layers.py
OBJ=$BUILD/obj

/usr/bin/python3 "$LAYERS" --show brokerd="$OBJ/brokerd" > layers.out 2>&1 ||
    { cat layers.out; fail "brokerd's files call each other in a circle (above)"; }
cat layers.out
# The library (session, io, api over the codec) and the shared common/.
/usr/bin/python3 "$LAYERS" --show libpubsub="$OBJ/libpubsub" common="$OBJ/common" > lib-layers.out 2>&1 ||
    { cat lib-layers.out; fail "libpubsub's or common's files call each other in a circle (above)"; }
cat lib-layers.out

# The check itself can fail: main.o uses a bottom file, and a bottom file
# made to use main.o's symbol closes a circle of two.
mkdir planted
cp "$OBJ"/brokerd/*.o planted/
bottom=$(sed -n 's/^brokerd layer 0: \([^ ]*\).*/\1/p' layers.out)
[ -n "$bottom" ] || fail "no bottom layer in the output of --show"
printf 'extern int main(int, char **);\nint (*layers_planted)(int, char **) = main;\n' > back.c
cc -c back.c -o back.o || fail "cannot compile the planted back edge"
ld -r "planted/$bottom.o" back.o -o "planted/$bottom.new" && mv "planted/$bottom.new" "planted/$bottom.o" ||
    fail "cannot plant the back edge into $bottom.o"
/usr/bin/python3 "$LAYERS" brokerd="$SCRATCH/planted" > planted.out 2>&1 &&
    { cat planted.out; fail "a planted circle through main and $bottom went unnoticed"; }
grep -q "circle of .* files:.*main" planted.out || { cat planted.out; fail "the planted circle was not named"; }
echo "ok: brokerd, libpubsub and common have no file-to-file circle; a planted one through $bottom is found"
