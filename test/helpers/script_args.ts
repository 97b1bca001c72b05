// Command-line options of the scripts run by hand with tsx (test/bench,
// test/long): `--name value` flags and the `name=value` settings that
// `npm run bench:* -- runs=10` passes.

/** The word after `--flag` on the command line; `dflt` when the flag is absent or ends the line. */
export function flagArg(flag: string, dflt: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(flag);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : dflt;
}

/** flagArg() as a number. */
export function numberFlag(flag: string, dflt: number): number {
  return Number(flagArg(flag, String(dflt)));
}

/** The number in a `name=value` argument; `dflt` when there is none. */
export function numberSetting(name: string, dflt: number): number {
  return Number(process.argv.find((a) => a.startsWith(`${name}=`))?.split("=")[1] ?? dflt);
}
