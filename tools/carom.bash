# carom.bash: bash completion for the carom command (installed as
# /usr/share/bash-completion/completions/carom). It only completes words: it must never
# run carom or any other program, nor read a policy file.
_carom() {
    local cur prev cmd i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    if [ -z "$cmd" ]; then
        COMPREPLY=($(compgen -W 'run check explain scoreboard cushions chaos fleet help --version --help' -- "$cur"))
        return
    fi
    case $prev in
        -c) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --prometheus) COMPREPLY=($(compgen -W '127.0.0.1:9464 [::1]:9464 :9464' -- "$cur")); return ;;
        --interval) return ;;
    esac
    case $cmd in
        run)
            # The first word that is not an option (or the word after --) is PROGRAM:
            # complete it as a command, and its own arguments as files.
            local j=$((i + 1)) prog=
            while [ "$j" -lt "$COMP_CWORD" ]; do
                case ${COMP_WORDS[j]} in
                    --) prog=$((j + 1)); break ;;
                    -c) j=$((j + 2)); continue ;;
                    -*) ;;
                    *) prog=$j; break ;;
                esac
                j=$((j + 1))
            done
            if [ -n "$prog" ] && [ "$COMP_CWORD" -gt "$prog" ]; then
                COMPREPLY=($(compgen -f -- "$cur"))
            elif [ -z "$prog" ] && [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W '-c --chaos --help --' -- "$cur"))
            else
                COMPREPLY=($(compgen -c -- "$cur"))
            fi ;;
        check)
            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W '-v --verbose --help' -- "$cur"))
            else COMPREPLY=($(compgen -f -- "$cur")); fi ;;
        explain)
            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W '--help' -- "$cur"))
            else COMPREPLY=($(compgen -f -- "$cur")); fi ;;
        scoreboard)
            COMPREPLY=($(compgen -W '-c --json --prometheus --interval --help' -- "$cur")) ;;
        cushions)
            COMPREPLY=($(compgen -W '-c --json --watch --path --open --close --reset --fleet --help' -- "$cur")) ;;
        chaos)
            COMPREPLY=($(compgen -W '-c --list --clear --help' -- "$cur")) ;;
        fleet)
            COMPREPLY=($(compgen -W '-c --help' -- "$cur")) ;;
        help)
            COMPREPLY=($(compgen -W 'run check explain scoreboard cushions chaos fleet' -- "$cur")) ;;
    esac
}
complete -F _carom carom
