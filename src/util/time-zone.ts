/** Whether `tz` is an IANA time zone this Node knows (its ICU data decides, e.g. Europe/Madrid, UTC). */
export function validTimeZone(tz: string): boolean {
  if (tz.trim() === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
