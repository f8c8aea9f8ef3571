// Errors of the GPT model: a config that does not describe one, a model asked two things at once.

export class InvalidModelConfigError extends Error {
  override name = "InvalidModelConfigError";
}

export class ModelBusyError extends Error {
  override name = "ModelBusyError";
  constructor(method: string) {
    super(`GptModel.${method}: another call on this model is still running (await it first)`);
  }
}
