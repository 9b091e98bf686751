# bash completion for facteur.  Install as
# /usr/share/bash-completion/completions/facteur (or source it).

_facteur_config()
{
	local i
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		-c | --config) echo "${COMP_WORDS[i + 1]}"; return ;;
		--config=*) echo "${COMP_WORDS[i]#--config=}"; return ;;
		esac
	done
	local xdg=${XDG_CONFIG_HOME:-$HOME/.config}/facteur/config
	if [[ -r $xdg ]]; then echo "$xdg"; else echo "$HOME/.mbsyncrc"; fi
}

# Channel and group names, read from the configuration as mbsync writes it.
_facteur_targets()
{
	local cfg
	cfg=$(_facteur_config)
	cfg=${cfg/#\~/$HOME}
	[[ -r $cfg ]] || return
	awk 'tolower($1) == "channel" && NF == 2 && !inch { print $2 }
	     tolower($1) == "group" { print $2 }
	     { inch = (tolower($1) == "group" || (inch && NF > 0)) }' "$cfg" 2>/dev/null
}

_facteur()
{
	local cur prev words cword
	_init_completion -n : 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	}

	case $prev in
	-c | --config)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--interval)
		COMPREPLY=($(compgen -W "60 300 900 3600" -- "$cur"))
		return
		;;
	esac

	local opts="-c --config -a --all -l --list -C --create --create-far --create-near
		-R --remove --remove-far --remove-near -X --expunge --expunge-far --expunge-near
		-n --new -o --old -N --renew -u --upgrade -d --delete -g --gone -f --flags
		-0 --noop -F --full -L --pull -H --push --pull-new --pull-renew --pull-delete
		--pull-flags --push-new --push-renew --push-delete --push-flags
		--dry-run --json --wait -V --verbose -q --quiet -D --debug -v --version -h --help"
	local sub="" w
	for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
		case $w in
		watch | status | check) sub=$w; break ;;
		esac
	done
	case $sub in
	watch) opts="$opts --interval" ;;
	status) opts="$opts --dump" ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	local names
	names=$(_facteur_targets)
	if [[ -z $sub ]]; then
		names="$names watch status check"
	fi
	COMPREPLY=($(compgen -W "$names" -- "$cur"))
}
complete -F _facteur facteur
