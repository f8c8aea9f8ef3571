// Errors of the job service and job records: a job id already taken.

export class JobIdTakenError extends Error {
  override name = "JobIdTakenError";
}
