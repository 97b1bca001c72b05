// Progress of a scenario run on stderr with cli-progress: nothing for a run
// that ends within 2 s, then a bar (a line a second when stderr is not a
// terminal) naming the cell being run.
import cliProgress from "cli-progress";

export interface Progress {
  /** One unit of work done (a model cell or an emulator run). */
  tick(label?: string): void;
  label(text: string): void;
  stop(): void;
}

export function startProgress(total: number, stream: NodeJS.WriteStream | null, delayMs = 2000): Progress {
  let done = 0;
  let label = "starting";
  let bar: cliProgress.SingleBar | null = null;
  const timer = stream === null ? null : setTimeout(() => {
    bar = new cliProgress.SingleBar({
      stream, format: "{bar} {value}/{total} | {duration_formatted} | {cell}", noTTYOutput: true, notTTYSchedule: 1000,
      hideCursor: true, clearOnComplete: false,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, done, { cell: label });
  }, delayMs);
  timer?.unref();
  return {
    tick(l) {
      done++;
      if (l !== undefined) label = l;
      bar?.update(done, { cell: label });
    },
    label(text) {
      label = text;
      bar?.update(done, { cell: label });
    },
    stop() {
      if (timer !== null) clearTimeout(timer);
      bar?.stop();
    },
  };
}
