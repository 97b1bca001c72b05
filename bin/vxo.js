#!/usr/bin/env node
// vxo command entry: registers tsx's loader so that the TypeScript sources run as they are.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../cli/vxo.ts");
process.exitCode = await main(process.argv);
