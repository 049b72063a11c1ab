/** A refusal of a hub operation that the API and the UI show as is (the message is for users). */
export class HubError extends Error {
  constructor(
    readonly kind: 'invalid' | 'not_found' | 'conflict' | 'denied',
    message: string,
  ) {
    super(message);
  }
}
