/** The Lark emulator, imported through this one place (its module is about to move). */
export { type LarkEmulator, type LarkEmulatorOptions, startLarkEmulator } from "../lark-emulator";
