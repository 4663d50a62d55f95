# bash completion for cachectl(1) and cachectld(8)      -*- shell-script -*-
#
# Verbs, options and column names come from the program's own --help, so
# they are those of the cachectl being completed, never a stale copy:
#   cachectl --help            "Verbs:" lists the verbs
#   cachectl VERB --help       one option a line, an upper-case word after
#                              it when it takes an argument ("--from FILE")
#                              and "Available output columns:" for -o

_cachectl_opts()
{
	sed -n 's/^ *\(-[a-zA-Z0-9]\), \(--[a-z0-9-]*\).*/\1 \2/p
		s/^ \{2,\}\(--[a-z0-9-]*\).*/\1/p'
}

# the argument an option takes, as --help names it (FILE, COLS, N...)
_cachectl_optarg()
{
	local opt=$1

	[[ $opt =~ ^--?[a-zA-Z0-9-]+$ ]] || return
	sed -n "s/^ *$opt, --[a-z0-9-]* \([A-Z]\{1,\}\).*/\1/p
		s/^ *-[a-zA-Z0-9], $opt \([A-Z]\{1,\}\).*/\1/p
		s/^ \{2,\}$opt \([A-Z]\{1,\}\).*/\1/p" | head -n 1
}

_cachectl_columns()
{
	sed -n '/^Available output columns:/,/^$/s/^ *\([A-Z_]\{1,\}\)  .*/\1/p'
}

_cachectl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local prog=${COMP_WORDS[0]} verb= help arg i

	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*)
			verb=${COMP_WORDS[i]}
			break
			;;
		esac
	done
	COMPREPLY=()
	if [[ -z $verb ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '--help --version' -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$("$prog" --help 2>/dev/null |
				sed -n '/^Verbs:/,/^$/s/^  \([a-z]\{1,\}\) .*/\1/p')" -- "$cur"))
		fi
		return
	fi
	help=$("$prog" "$verb" --help 2>/dev/null) || return

	# --output=COLS: bash splits at '='
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = && $COMP_CWORD -ge 2 ]]; then
		prev=${COMP_WORDS[COMP_CWORD-2]}
	fi
	arg=$(_cachectl_optarg "$prev" <<<"$help")
	case $arg in
	COLS)
		# a comma list, maybe after '+': complete its last name
		local head= last=$cur
		if [[ $last == +* ]]; then
			head=+
			last=${last#+}
		fi
		if [[ $last == *,* ]]; then
			head+=${last%,*},
			last=${last##*,}
		fi
		COMPREPLY=($(compgen -P "$head" -W "$(_cachectl_columns <<<"$help")" -- "$last"))
		compopt -o nospace 2>/dev/null
		return
		;;
	FILE)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	?*)
		return		# a number, a size, a glob: nothing to offer
		;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_cachectl_opts <<<"$help")" -- "$cur"))
		return
	fi
	case $verb in
	pins|monitor|cache)
		return		# no paths
		;;
	esac
	compopt -o filenames 2>/dev/null
	COMPREPLY=($(compgen -f -- "$cur"))
}

_cachectld()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}

	COMPREPLY=()
	case $prev in
	--socket)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--state-dir)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur"))
		return
		;;
	esac
	[[ $cur == -* ]] &&
		COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" --help 2>/dev/null |
			sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z-]*\).*/\2/p')" -- "$cur"))
}

complete -F _cachectl cachectl
complete -F _cachectld cachectld
