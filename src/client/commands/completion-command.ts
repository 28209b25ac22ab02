// completion bash|zsh|fish — a shell completion script written from the
// commands themselves, so that it never lists a command or option that is gone.
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../user-error';

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

interface CommandNode {
  /** the words that lead to it: [] for t2t itself, ['lockbox', 'approve'] */
  path: string[];
  description: string;
  subcommands: string[];
  options: { flags: string[]; takesValue: boolean; description: string }[];
}

export function registerCompletionCommand(program: Command, runtime: CommandRuntime): void {
  program
    .command('completion')
    .description('print a shell completion script: eval "$(t2t completion bash)", or see docs/cli.md')
    .argument('<shell>', SHELLS.join(', '))
    .action((shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw new UserError(`completion: no script for '${shell}' (choose ${SHELLS.join(', ')})`);
      const script = completionScript(program, shell as Shell);
      const printer = runtime.printer();
      printer.document({ shell, script });
      for (const line of script.trimEnd().split('\n')) printer.line(line);
    });
}

export function completionScript(program: Command, shell: Shell): string {
  const nodes = commandTree(program);
  if (shell === 'fish') return fishScript(nodes);
  const bash = bashScript(nodes);
  // zsh runs the bash script through its bash-compatible completion layer.
  return shell === 'zsh' ? `#compdef t2t\nautoload -U +X bashcompinit && bashcompinit\n${bash}` : bash;
}

function commandTree(program: Command): CommandNode[] {
  const nodes: CommandNode[] = [];
  const walk = (command: Command, path: string[]) => {
    const subcommands = command.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
    nodes.push({
      path,
      description: command.description(),
      subcommands: subcommands.flatMap((c) => [c.name(), ...c.aliases()]),
      options: [
        ...command.options.map((o) => ({
          flags: [o.long, o.short].filter((f): f is string => Boolean(f)),
          takesValue: o.required || o.optional,
          description: o.description,
        })),
        { flags: ['--help', '-h'], takesValue: false, description: 'display help' },
      ],
    });
    for (const sub of subcommands) {
      for (const name of [sub.name(), ...sub.aliases()]) walk(sub, [...path, name]);
    }
  };
  walk(program, []);
  return nodes;
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function bashScript(nodes: CommandNode[]): string {
  const valueOptions = [...new Set(nodes.flatMap((n) => n.options.filter((o) => o.takesValue).flatMap((o) => o.flags)))];
  const cases = nodes
    .map((n) => `    ${quote(n.path.join(' '))}) words=${quote([...n.subcommands, ...n.options.flatMap((o) => o.flags)].join(' '))} ;;`)
    .join('\n');
  return `# t2t completion for bash (eval "$(t2t completion bash)")
_t2t_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" i word words=""
  case " ${valueOptions.join(' ')} " in
    *" $prev "*) COMPREPLY=(); return ;;
  esac
  # The command path: the words before the cursor that are neither options nor their values.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in
      -*) case " ${valueOptions.join(' ')} " in *" $word "*) i=$((i + 1)) ;; esac ;;
      *) path="\${path:+$path }$word" ;;
    esac
  done
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _t2t_complete t2t
`;
}

function fishScript(nodes: CommandNode[]): string {
  const lines = ['# t2t completion for fish (t2t completion fish > ~/.config/fish/completions/t2t.fish)', 'complete -c t2t -f'];
  const condition = (path: string[]) => {
    if (path.length === 0) return '__fish_use_subcommand';
    return path.map((word) => `__fish_seen_subcommand_from ${word}`).join('; and ');
  };
  const byPath = new Map(nodes.map((n) => [n.path.join(' '), n]));
  for (const node of nodes) {
    const parent = condition(node.path);
    for (const sub of node.subcommands) {
      const description = byPath.get([...node.path, sub].join(' '))?.description ?? '';
      const notYet = node.path.length === 0 ? parent : `${parent}; and not __fish_seen_subcommand_from ${node.subcommands.join(' ')}`;
      lines.push(`complete -c t2t -n ${quote(notYet)} -a ${quote(sub)} -d ${quote(description)}`);
    }
    for (const option of node.options) {
      const long = option.flags.find((f) => f.startsWith('--'))?.slice(2);
      const short = option.flags.find((f) => /^-[^-]$/.test(f))?.slice(1);
      if (!long) continue;
      const global = node.path.length === 0 ? '' : ` -n ${quote(parent)}`;
      lines.push(`complete -c t2t${global} -l ${long}${short ? ` -s ${short}` : ''}${option.takesValue ? ' -r' : ''} -d ${quote(option.description)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
