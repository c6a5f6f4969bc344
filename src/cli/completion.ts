/**
 * `kinda completion bash|zsh`: a completion script made from the commands and options commander
 * knows (so it never drifts from the CLI). Install: `source <(kinda completion bash)` in ~/.bashrc,
 * or `kinda completion zsh > "${fpath[1]}/_kinda"`.
 */
import type { Command } from "commander";

/** Each command with its long options (and the program's own). */
function table(program: Command): { name: string; options: string[] }[] {
  const opts = (c: Command) => c.options.flatMap((o) => (o.long ? [o.long] : []));
  return program.commands.map((c) => ({ name: c.name(), options: [...opts(c), "--help"] }));
}

export function completionScript(program: Command, shell: "bash" | "zsh"): string {
  const cmds = table(program);
  const names = cmds.map((c) => c.name).join(" ");
  const cases = cmds.map((c) => `    ${c.name}) opts="${c.options.join(" ")}" ;;`).join("\n");
  const bash = `# kinda completion (bash): source <(kinda completion bash)
_kinda() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[1]} opts=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names} --version --help" -- "$cur") )
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}
complete -o filenames -F _kinda kinda
`;
  if (shell === "bash") return bash;
  // zsh runs the bash function through bashcompinit
  return `#compdef kinda\nautoload -U +X bashcompinit && bashcompinit\n${bash}`;
}
