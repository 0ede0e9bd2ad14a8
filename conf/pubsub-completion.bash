# pubsub-completion.bash - bash completion for ppub, psub, pctl, pbench and
# brokerd.
#
# `make install` puts this file into bash-completion's directory under each
# tool's name, so bash-completion loads it on the first TAB after any of
# them; `source` it by hand to try it without installing.  It completes the
# options of each tool (the lists below follow each tool's --help), the
# values of options that take a word from a small set (-F/--format, --topic-from,
# pctl's commands and create's --type, --overflow and --slow-subscriber,
# pbench's scenarios), files where a file is wanted, and after
# -c/--channel (and pctl delete, purge, retained) the channel names of the
# running broker, asked with `pctl channels --json` (the broker of -b/--broker on the line, else
# $PUBSUB_BROKER, else the default), within 300 ms, or nothing.
# It needs nothing from the bash-completion package itself.

_pubsub_common_opts="-b --broker --timeout --curve-server-key --curve-key -h --help -V --version"
# ... and of the tools that are clients of the broker (not pbench).
_pubsub_client_opts="-H --host -p --port -i --name"

# The channel names of the broker this command line talks to.
_pubsub_channels() {
    local broker=()
    # COMP_WORDS splits "tcp://host:port" at the colons; the line does not.
    if [[ " ${COMP_LINE:0:COMP_POINT}" =~ [[:space:]](-b|--broker)[=[:space:]]+([^[:space:]]+) ]]; then
        broker=(-b "${BASH_REMATCH[2]}")
    fi
    pctl --timeout 300 "${broker[@]}" channels --json 2> /dev/null |
        grep -o '"name":"[^"]*"' | sed 's/^"name":"//; s/"$//'
}

_pubsub() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local tool=${COMP_WORDS[0]##*/} opts words=""
    COMPREPLY=()
    case $tool in
    ppub)
        opts="-c --channel -t --topic -m --message -f --file -l --lines -0 --null --raw
              -n --count --size --rate --topic-from --confirm --sync -r --retain --request
              --async --strict -v --verbose --explain --progress $_pubsub_client_opts"
        ;;
    psub)
        opts="-c --channel -t --topic -n --count -C -W --wait -F --format -v --verbose
              --reply --echo --explain --progress $_pubsub_client_opts"
        ;;
    pctl)
        opts="--json -n --count -d --delay --force --type --durable --max-queued --overflow
              --slow-subscriber --no-retain --clear $_pubsub_client_opts"
        words="status channels clients cluster subscriptions top ping keygen create delete purge retained"
        ;;
    pbench)
        opts="--broker-pid --zmq --nats --redis --mosquitto -s --size -n --count -r --runs
              --subs --pubs --window --durable-window --requests --idle --slow-mib --mosquitto-count --sub-broker"
        words="pubsub drop fanout many dropfanout dropmany queue confirm sync durable reqrep pingpong memory"
        ;;
    brokerd)
        COMPREPLY=()
        case $prev in
        -c | --config) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        -e | --endpoint) ;;
        *) mapfile -t COMPREPLY < <(compgen -W "-c --config -e --endpoint --check -v --verbose
                                                -h --help -V --version" -- "$cur") ;;
        esac
        return 0
        ;;
    *) return 0 ;;
    esac
    case $prev in
    -c | --channel)
        mapfile -t COMPREPLY < <(compgen -W "$(_pubsub_channels)" -- "$cur")
        return 0
        ;;
    -F | --format)
        mapfile -t COMPREPLY < <(compgen -W "plain json raw" -- "$cur")
        return 0
        ;;
    --topic-from)
        mapfile -t COMPREPLY < <(compgen -W "syslog" -- "$cur")
        return 0
        ;;
    --type)
        mapfile -t COMPREPLY < <(compgen -W "queue broadcast pubsub" -- "$cur")
        return 0
        ;;
    --overflow)
        mapfile -t COMPREPLY < <(compgen -W "refuse block" -- "$cur")
        return 0
        ;;
    --slow-subscriber)
        mapfile -t COMPREPLY < <(compgen -W "drop block" -- "$cur")
        return 0
        ;;
    --curve-server-key | --curve-key | -f | --file)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
        ;;
    --reply)
        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
        return 0
        ;;
    -b | --broker | -t | --topic | -n | --count | --size | --rate | --timeout | -s | --runs | \
        -m | --message | -C | -W | --wait | -d | --delay | -H | --host | -p | --port | -i | --name | \
        --broker-pid | --nats | --redis | --mosquitto | --subs | --pubs | --window | --durable-window | --requests | \
        --idle | --slow-mib | --mosquitto-count | --max-queued | --sub-broker)
        return 0 # a value of the user's own
        ;;
    esac
    # -r is pbench's number of runs, but ppub's --retain, which takes none.
    if [[ $tool == pbench && $prev == -r ]]; then
        return 0
    fi
    if [[ $tool == pctl && ($prev == keygen || $prev == create) ]]; then
        return 0 # a new name
    fi
    if [[ $tool == pctl && $cur != -* && ($prev == delete || $prev == purge || $prev == retained) ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_pubsub_channels)" -- "$cur")
        return 0
    fi
    if [[ $cur == -* || -z $words ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts $_pubsub_common_opts" -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    fi
    return 0
}

complete -F _pubsub ppub psub pctl pbench brokerd
