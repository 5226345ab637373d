"""ASC X12: the 214 shipment status reader and writer, and 997 acknowledgments."""
