/**
 * What a library module hands a script to print: modules under src/ never print
 * themselves (cli.ts does, masking secrets), so a report is a list of these.
 */
export interface Line {
  stream: 'out' | 'err';
  text: string;
}

export const outLine = (text: string): Line => ({ stream: 'out', text });
export const errLine = (text: string): Line => ({ stream: 'err', text });
