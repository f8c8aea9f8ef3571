export { AdamW, createAdamW, clipScale, DEFAULT_ADAMW, OptimizerError, type ParameterSource } from "./adamw.ts";
