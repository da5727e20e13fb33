"""QR code: a PNG drawn locally from a text (`feature.Qr`); its page and API are the kit's."""
