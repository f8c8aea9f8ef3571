export { AdamW, createAdamW, clipScale, DEFAULT_ADAMW, type ParameterSource } from "./adamw.ts";
export { OptimizerError } from "./errors.ts";
