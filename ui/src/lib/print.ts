// Print and Save as PDF / Download of the master's PDFs (docs/print.md).
//
// The master makes the PDF (the `print` op), so every window and browser
// gets the same document. In a browser, Download saves it through an
// <a download> link and Print loads it in a hidden frame and opens the
// browser's print dialog on it. The desktop window (WebKitGTK shows no
// PDF) hands it to the desktop instead: Api.pdfSave.

import type { PrintAnswer } from './api';

/** The PDF's bytes as a Blob. */
export function pdfBlob(pdf: PrintAnswer): Blob {
  const bin = atob(pdf.pdf_base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], { type: 'application/pdf' });
}

/** Browser: saves the PDF through the browser's downloads. */
export function download(pdf: PrintAnswer, doc: Document = document): void {
  const url = URL.createObjectURL(pdfBlob(pdf));
  const a = doc.createElement('a');
  a.href = url;
  a.download = pdf.file_name;
  a.style.display = 'none';
  doc.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Browser: loads the PDF in a hidden frame and opens the print dialog on it. */
export function printInFrame(pdf: PrintAnswer, doc: Document = document): HTMLIFrameElement {
  doc.querySelector('iframe[data-testid="print-frame"]')?.remove();
  const url = URL.createObjectURL(pdfBlob(pdf));
  const frame = doc.createElement('iframe');
  frame.dataset.testid = 'print-frame';
  frame.title = pdf.file_name;
  frame.style.cssText = 'position:fixed;right:0;bottom:0;width:0;height:0;border:0;visibility:hidden';
  frame.onload = () => {
    frame.dataset.loaded = 'yes';
    try {
      frame.contentWindow?.focus();
      frame.contentWindow?.print();
    } catch {
      // A browser that will not print a PDF frame: open it in a tab instead.
      window.open(url, '_blank');
    }
  };
  frame.src = url;
  doc.body.appendChild(frame);
  return frame;
}
