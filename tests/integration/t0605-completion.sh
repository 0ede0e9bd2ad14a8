#!/bin/bash
# Bash completion (conf/pubsub-completion.bash), sourced as bash-completion
# would and driven through COMP_WORDS/COMP_CWORD: options of each tool, the
# values of --format, --topic-from, pctl's commands and pbench's scenarios,
# and channel names from the running broker (also the one -b names).  Every
# option a tool's --help lists is offered.  `make install-completion` puts the
# file under each tool's name where bash-completion looks, and
# `make uninstall-completion` takes it away again.
. "$(dirname "$0")/lib.sh"
FILE=$ROOT/conf/pubsub-completion.bash
. "$FILE" || fail "sourcing $FILE failed"
export PATH="$BUILD:$PATH" # the completion asks `pctl` for channel names

# completes LINE: what TAB offers at the end of LINE (words sorted, one line).
completes() {
    local line=$1
    read -ra COMP_WORDS <<< "$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _pubsub
    printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd' ' -
}

expect_eq "$(complete -p ppub psub pctl pbench brokerd | awk '{print $3}' | sort -u)" "_pubsub" \
    "the function registered for every tool"
expect_eq "$(completes 'ppub --sy')" "--sync" "ppub --sy"
expect_eq "$(completes 'ppub --re')" "--request --retain" "ppub --re"
expect_eq "$(completes 'ppub --topic-from ')" "syslog" "ppub --topic-from"
expect_eq "$(completes 'psub --format ')" "json plain raw" "psub --format"
expect_eq "$(completes 'psub --ex')" "--explain" "psub --ex"
expect_eq "$(completes 'pctl ')" "channels clients cluster create delete keygen ping purge retained status subscriptions top" "pctl's commands"
expect_eq "$(completes 'pctl create x --type ')" "broadcast pubsub queue" "pctl create --type"
expect_eq "$(completes 'pctl create x --overflow ')" "block refuse" "pctl create --overflow"
expect_eq "$(completes 'pctl create x --slow-subscriber ')" "block drop" "pctl create --slow-subscriber"
expect_eq "$(completes 'pctl create ')" "" "pctl create takes a new name"
expect_eq "$(completes 'psub -F ')" "json plain raw" "psub -F"
expect_eq "$(completes 'ppub -r ')" "$(completes 'ppub ')" "ppub -r takes no value"
expect_eq "$(completes 'pbench -r ')" "" "pbench -r takes a number"
expect_eq "$(completes 'pctl --json st')" "status" "pctl --json st"
expect_eq "$(completes 'pbench re')" "reqrep" "pbench's scenarios"
expect_eq "$(completes 'brokerd --ch')" "--check" "brokerd --ch"
touch my.conf
expect_eq "$(completes 'brokerd -c my.c')" "my.conf" "brokerd -c FILE"
expect_eq "$(completes 'ppub -n ')" "" "no completion for a number"

# Every option of every tool's --help is offered after "--" or "-".
for tool in ppub psub pctl pbench brokerd; do
    offered=" $(completes "$tool -") "
    for opt in $("$BUILD/$tool" --help | grep -oE '(^|[ ,])--?[a-zA-Z0-9][a-z0-9-]*' | tr -d ' ,' | sort -u); do
        [[ $offered == *" $opt "* ]] || fail "$tool: --help lists $opt, the completion does not offer it"
    done
done

# Channel names from the running broker, through $PUBSUB_BROKER or -b.
start_broker
"$BUILD/ppub" -c made.on.first.use -t x "hello" || fail "ppub exited $?"
expect_eq "$(completes 'psub -c ')" "alerts jobs logs made.on.first.use" "channels of the broker in \$PUBSUB_BROKER"
expect_eq "$(completes 'ppub --channel j')" "jobs" "ppub --channel j"
expect_eq "$(completes 'pctl delete ')" "alerts jobs logs made.on.first.use" "pctl delete NAME"
expect_eq "$(completes 'pctl retained l')" "logs" "pctl retained NAME"
b=$PUBSUB_BROKER
unset PUBSUB_BROKER
expect_eq "$(completes "psub -b $b -c a")" "alerts" "channels of the broker named by -b"
expect_eq "$(completes "psub -b tcp://127.0.0.1:$(free_port) -c ")" "" "no broker there: no channel names"

# make install puts it where bash-completion looks for each tool's name.
make -s -C "$ROOT" install-completion DESTDIR="$SCRATCH/root" PREFIX=/usr > make.out 2>&1 ||
    fail "make install-completion failed: $(cat make.out)"
dir=$SCRATCH/root/usr/share/bash-completion/completions
for tool in ppub psub pctl pbench brokerd; do
    cmp -s "$FILE" "$dir/$tool" || fail "$dir/$tool is not the completion file"
done
make -s -C "$ROOT" uninstall-completion DESTDIR="$SCRATCH/root" PREFIX=/usr > make.out 2>&1 ||
    fail "make uninstall-completion failed: $(cat make.out)"
[ -z "$(ls -A "$dir")" ] || fail "left after uninstall: $(ls "$dir")"
echo "ok: completion of options, values, commands and live channel names for all five tools; installed and removed"
